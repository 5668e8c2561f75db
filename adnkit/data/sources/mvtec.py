"""`mvtec:ROOT/CATEGORY`: one MVTec AD category (adnkit.data.mvtec); `mvtec:CATEGORY` looks in <data_root>/mvtec,
and `mvtec:ROOT` in a benchmark stands for every category under ROOT."""

from __future__ import annotations

from pathlib import Path

from adnkit.data.categories import expand_categories, root_and_name
from adnkit.data.mvtec import MVTEC_CATEGORIES, load_mvtec, mvtec_root
from adnkit.data.samples import Split
from adnkit.data.sources.registry import CatalogRow, DataSource


def open_mvtec(arg: str, cfg) -> Split:
    return load_mvtec(*root_and_name(arg, Path(cfg.data_root).expanduser() / "mvtec"))


def expand_mvtec(arg: str, data_root: Path) -> list[str] | None:
    return expand_categories("mvtec", arg, data_root)


def catalog_mvtec(data_root: Path) -> list[CatalogRow]:
    """The 15 categories, present where <data_root>/mvtec holds their folder."""
    root = mvtec_root(data_root / "mvtec")
    return [CatalogRow("mvtec", category, (root / category).is_dir(), f"mvtec:{root / category}")
            for category in MVTEC_CATEGORIES]


SOURCE = DataSource(prefix="mvtec", example="mvtec:data/mvtec/bottle", open=open_mvtec, expand=expand_mvtec,
                    catalog=catalog_mvtec)
