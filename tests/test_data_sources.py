"""The data source registry: a source defined here, outside adnkit, works with every spec consumer."""

from pathlib import Path

import pytest
from PIL import Image

from adnkit.cli.main import main
from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data import (
    CatalogRow,
    DataSource,
    Split,
    expand_specs,
    load_split,
    open_split,
    parse_spec,
    register_source,
    spec_names,
    spec_prefixes,
    unregister_source,
)
from adnkit.data.folder import load_folder


def make_category(root: Path) -> Path:
    for part, n in (("train/good", 3), ("test/good", 2), ("test/dent", 2)):
        (root / part).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (40, 40), (30 * i, 90, 160)).save(root / part / f"{i}.png")
    return root


def open_toy(arg: str, cfg) -> Split:
    return load_folder(Path(cfg.data_root) / "toy" / arg, dataset="toy", category=arg)


def expand_toy(arg: str, data_root: Path) -> list[str] | None:
    """The bare `toy`: every folder under <data_root>/toy."""
    return None if arg else [f"toy:{p.name}" for p in sorted((data_root / "toy").iterdir())]


def catalog_toy(data_root: Path) -> list[CatalogRow]:
    return [CatalogRow("toy", name, (data_root / "toy" / name).is_dir(), f"toy:{name}") for name in ("a", "zz")]


@pytest.fixture
def toy(tmp_path):
    make_category(tmp_path / "toy" / "a")
    make_category(tmp_path / "toy" / "b")
    source = register_source(DataSource(prefix="toy", example="toy:a", open=open_toy, expand=expand_toy,
                                        catalog=catalog_toy))
    yield source
    unregister_source("toy")


def test_builtin_sources_are_registered():
    assert {"folder", "mvtec", "insplad", "wafer", "wm811k", "elpv", "synthetic"} <= set(spec_prefixes())


def test_a_registered_source_loads_names_expands_and_lists(toy, tmp_path, capsys):
    split = load_split(Config(data="TOY:a", data_root=str(tmp_path), val_fraction=0.0))
    assert (split.name, split.dataset, split.category) == ("toy/a", "toy", "a")
    assert (len(split.train), len(split.test), split.defects) == (3, 4, ["dent"])
    assert open_split("toy:b", data_root=tmp_path).category == "b"
    assert parse_spec("toy:a") == ("toy", "a")
    assert spec_names("toy:some/where/a") == ("toy", "a")
    assert expand_specs(["toy", "toy:a", "elpv"], tmp_path) == ["toy:a", "toy:b", "elpv:mono", "elpv:poly"]
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["toy", "a", "True", "toy:a"] in lines and ["toy", "zz", "False", "toy:zz"] in lines


def test_unknown_prefix_lists_the_registered_ones(toy, tmp_path):
    with pytest.raises(DataError, match=r"unknown prefix 'toys:'.*folder:.*toy:") as err:
        load_split(Config(data="toys:a", data_root=str(tmp_path)))
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match=r"'toy:' names no data; e\.g\. --data toy:a"):
        parse_spec("toy:")


def test_registering_a_prefix_twice_is_a_one_line_error(toy):
    again = DataSource(prefix="toy", example="toy:x", open=open_toy)
    with pytest.raises(DataError, match=r"^data source 'toy:' is registered already; .*replace=True[^\n]*$"):
        register_source(again)
    assert register_source(again, replace=True) is again  # a notebook cell run twice
    with pytest.raises(DataError, match="registered already"):
        register_source(DataSource(prefix="mvtec", example="mvtec:x", open=open_toy))


@pytest.mark.parametrize("prefix, example, match", [
    ("T", "T:x", "use two or more lower-case letters"),
    ("Toy", "Toy:x", "use two or more lower-case letters"),
    ("my toy", "my toy:x", "use two or more lower-case letters"),
    ("toy2", "toy:x", "must be a spec of its own"),
])
def test_bad_sources_are_refused(prefix, example, match):
    with pytest.raises(DataError, match=match):
        register_source(DataSource(prefix=prefix, example=example, open=open_toy))
    assert prefix not in spec_prefixes()


def test_unregistering_an_unknown_prefix_names_the_registered_ones():
    with pytest.raises(DataError, match=r"'nope:' is not registered; registered: .*mvtec"):
        unregister_source("nope")
