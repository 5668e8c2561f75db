"""Issue 15: any Config field as a benchmark axis (adnkit.experiments.grid, benchmark(grid=...), adnkit bench
--grid)."""

import json

import pandas as pd
import pytest
from test_bench import FakeRunner

from adnkit.cli.main import main
from adnkit.config.settings import preset
from adnkit.core.errors import ConfigError
from adnkit.evaluation.summary import summarize
from adnkit.experiments.bench import benchmark
from adnkit.experiments.grid import name_suffix, parse_grid, variants
from adnkit.experiments.terminal import format_summary


def test_parse_grid_types_and_separators():
    grid = parse_grid(["train_attention=false,true", "attention_positions=1,4,11|2,5,12", "lr=1e-4,2e-4",
                       "attention-site=relu,pool,relu"])
    assert grid == {"train_attention": [False, True], "attention_positions": [(1, 4, 11), (2, 5, 12)],
                    "lr": [1e-4, 2e-4], "attention_site": ["relu", "pool"]}
    assert parse_grid([]) == {}


@pytest.mark.parametrize("items, match", [
    (["train_atention=false,true"], "not a setting; did you mean train_attention"),
    (["image_size=128,big"], "value 'big' is not int"),
    (["train_attention=maybe"], "is not bool"),
    (["attention_positions=1,x"], "tuple"),
    (["attention=se,cbam"], "use --attention"),
    (["seed=1,2"], "use --seeds"),
    (["lr"], "FIELD=V1,V2"),
    (["lr="], "no values"),
    (["lr=1e-4", "lr=2e-4"], "given twice"),
])
def test_parse_grid_errors_are_one_line(items, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_grid(items)
    assert "\n" not in str(err.value)


def test_variants_product_and_names():
    grid = {"attention_site": ["relu", "pool"], "train_attention": [False, True]}
    vs = variants(["none", "se"], grid)
    assert len(vs) == 8 and vs[0] == {"attention": "none", "attention_site": "relu", "train_attention": False}
    assert name_suffix(vs[-1]) == "-attention_site_pool-train_attention_true"
    assert name_suffix({"attention": "se", "attention_positions": (2, 5, 12)}) == "-attention_positions_2.5.12"
    assert name_suffix({"attention": "se"}) == ""
    assert variants(["none"], None) == [{"attention": "none"}]
    explicit = [{"attention": "none", "embedding_norm": "batch"}, {"train_attention": True}]
    assert variants(["se", "cbam"], explicit) == [
        {"attention": "none", "embedding_norm": "batch"}, {"attention": "se", "train_attention": True},
        {"attention": "cbam", "train_attention": True}]


@pytest.mark.slow
def test_bench_grid_expands_names_reuses_and_summarises(tmp_path):
    base = preset("ci")
    grid = parse_grid(["attention_site=relu,pool", "train_attention=false,true"])
    runner = FakeRunner()
    results = benchmark(["synthetic:toy"], ["none", "se"], [0, 1], base, tmp_path, runner=runner,
                        progress=False, grid=grid)
    assert len(runner.calls) == len(results) == 2 * 2 * 2 * 2
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert "synthetic-toy-se-attention_site_pool-train_attention_true-seed0" in names
    assert len(set(names)) == 16
    # Each cell ran with its grid values; the rows carry them as columns.
    configs = {json.loads((tmp_path / r / "config.json").read_text())["attention_positions"].__str__()
               for r in results["run_dir"]}
    assert configs == {"[1, 4, 11]", "[2, 5, 12]"}
    table = pd.read_csv(tmp_path / "results.csv")
    assert {"attention_site", "train_attention"} <= set(table.columns)
    row = table[table["run_dir"].str.contains("se-attention_site_pool-train_attention_true-seed1")].iloc[0]
    assert row["attention_site"] == "pool" and bool(row["train_attention"]) is True
    # The summary groups by the grid columns; each group has its own "none" baseline.
    summary = pd.read_csv(tmp_path / "summary.csv")
    per_cat = summary[summary["category"] != "mean"]
    assert len(per_cat) == 8 and {"attention_site", "train_attention"} <= set(summary.columns)
    assert list(summary.columns[:5]) == ["dataset", "category", "attention", "attention_site", "train_attention"]
    assert per_cat[per_cat["attention"] == "se"]["n_paired"].eq(2).all()
    assert "attention_site" in format_summary(summary)
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["grid_columns"] == ["attention_site", "train_attention"] and bench["n_cells"] == 16
    from adnkit.experiments.report import write_report

    page = write_report(tmp_path).read_text()
    assert "<th>attention_site</th>" in page and "se attention_site=pool train_attention=true" in page
    # A rerun reuses every finished cell.
    again = FakeRunner()
    results = benchmark(["synthetic:toy"], ["none", "se"], [0, 1], base, tmp_path, runner=again,
                        progress=False, grid=grid)
    assert again.calls == [] and results["reused"].all()


def test_bench_without_grid_keeps_names_and_summary(tmp_path):
    base = preset("ci")
    results = benchmark(["synthetic:toy"], ["none", "se"], [0], base, tmp_path, runner=FakeRunner(), progress=False)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "synthetic-toy-none-seed0",
        "synthetic-toy-se-seed0",
    ]
    assert "grid_columns" not in json.loads((tmp_path / "bench.json").read_text())
    columns = [c for c in pd.read_csv(tmp_path / "summary.csv").columns if not c.startswith("verdict_")]
    assert columns == list(summarize(results).columns)  # no grid columns (the paired verdicts follow)
    assert summarize(results).equals(summarize(results, variant_cols=[]))


def test_cli_grid_error_is_one_line(tmp_path, capsys):
    code = main(["bench", "--data", "synthetic:toy", "--grid", "train_atention=true", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "train_attention" in err


def test_cli_grid_can_sweep_a_field_the_base_cannot_hold(tmp_path, monkeypatch):
    """--scales 4 at the cpu preset's 256 px is invalid (a 32 px scale), but --grid image_size=512,640 sets every
    cell's size."""
    import adnkit.cli.main as cli

    seen = {}
    monkeypatch.setattr(cli, "_bench", lambda *a, **k: seen.update(base=a[3], grid=k["grid"]) or 0)
    assert main(["bench", "--data", "synthetic:toy", "--preset", "cpu", "--scales", "4",
                 "--grid", "image_size=512,640", "--out", str(tmp_path)]) == 0
    assert seen["base"].scales == 4 and seen["base"].image_size == 512 and seen["grid"] == {"image_size": [512, 640]}
    code = main(["bench", "--data", "synthetic:toy", "--preset", "cpu", "--scales", "4", "--out", str(tmp_path)])
    assert code == 2  # without a grid that fixes it, the same settings are still the one-line error

