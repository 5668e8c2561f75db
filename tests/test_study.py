"""Issue 15: `adnkit study attention` (adnkit.experiments.study) with a fake runner, and the spread of a real run."""

import json

import pandas as pd
import pytest
from test_bench import FakeRunner

from adnkit.config.settings import preset
from adnkit.experiments.study import attention_study, spread_of_run
from adnkit.experiments.study_answer import format_study
from adnkit.experiments.study_variants import study_variants
from adnkit.runs.folder import Run

pytestmark = pytest.mark.slow  # trains real runs


def fake_spread(run_dir):
    cfg = json.loads((run_dir / "config.json").read_text())
    collapsed = cfg["attention"] == "cbam" and cfg["train_attention"] and cfg["embedding_norm"] == "none"
    std = 0.1 if collapsed else 1.0
    return dict(mean_std=std, relative_spread=std / 2, near_constant_share=0.3 if collapsed else 0.0)


def test_the_variants_are_the_paired_ablation():
    vs = study_variants()
    assert len(vs) == 14 and len({json.dumps(v, sort_keys=True) for v in vs}) == 14
    assert sum(v["attention"] == "none" for v in vs) == 2
    for block in ("se", "cbam"):
        for site in ("relu", "pool"):
            mine = [v for v in vs if v["attention"] == block and v.get("attention_site") == site]
            assert [(v["train_attention"], v["embedding_norm"]) for v in mine] == [
                (False, "none"), (True, "none"), (True, "batch")]


def test_study_end_to_end_with_a_fake_runner(tmp_path):
    runner = FakeRunner()
    table = attention_study(["synthetic:toy"], [0, 1, 2], preset("ci"), tmp_path, runner=runner, progress=False,
                      preset_name="ci", spread_fn=fake_spread)
    assert len(runner.calls) == 42
    assert len(table) == 14 and table["n_seeds"].eq(3).all()
    assert (
        tmp_path / "runs" / "synthetic-toy-cbam-attention_site_pool-train_attention_true-embedding_norm_batch-seed1"
    ).is_dir()
    rows = table.set_index("variant")
    assert rows.loc["CBAM pool trained", "spread_vs_differnet"] == pytest.approx(0.1)
    assert rows.loc["CBAM pool trained+guard", "baseline"] == "DifferNet+guard"
    assert rows.loc["SE relu frozen", "baseline"] == "DifferNet" and rows.loc["SE relu frozen", "n_paired"] == 3
    # Paired gain: the fake runner's scores depend on the seed and the name, so gains are real differences.
    runs = pd.read_csv(tmp_path / "study_runs.csv")
    se = runs[runs["variant"] == "SE relu frozen"].set_index("seed")["auroc_last"]
    dn = runs[runs["variant"] == "DifferNet"].set_index("seed")["auroc_last"]
    assert rows.loc["SE relu frozen", "gain_last_mean"] == pytest.approx((se - dn).mean())
    assert rows.loc["SE relu frozen", "gain_last_low"] <= rows.loc["SE relu frozen", "gain_last_mean"]
    assert rows.loc["SE relu frozen", "verdict"] in ("a gain", "a loss", "no difference shown")
    text = (tmp_path / "study.txt").read_text()
    assert "At the ci preset on synthetic toy (3 seeds" in text
    assert (
        "CBAM after the max-pools" in text
        and "collapsed: its embedding's spread fell to 10% of the frozen block's" in text
    )
    assert rows.loc["CBAM pool trained", "spread_vs_frozen"] == pytest.approx(0.1)
    assert rows.loc["SE pool trained", "spread_vs_frozen"] == pytest.approx(1.0) and "no collapse" in text
    page = (tmp_path / "report.html").read_text()
    assert "What attention does here" in page and page.count("<script type='text/javascript'>") == 1
    assert "CBAM pool trained+guard" in page
    assert pd.read_csv(tmp_path / "study.csv").shape[0] == 14
    assert "CBAM pool trained" in format_study(table)
    # (reusing finished runs is benchmark's: tests/test_grid.py)


def test_trained_variants_can_run_on_fewer_seeds(tmp_path):
    runner = FakeRunner()
    table = attention_study(["synthetic:toy"], [0, 1, 2], preset("ci"), tmp_path, runner=runner, progress=False,
                      preset_name="ci", spread_fn=fake_spread, trained_seeds=[0])
    assert len(runner.calls) == 6 * 3 + 8 * 1  # 6 variants without trained blocks x 3 seeds, 8 trained x 1
    rows = table.set_index("variant")
    assert rows.loc["SE relu frozen", "n_seeds"] == 3 and rows.loc["SE relu frozen", "n_paired"] == 3
    assert rows.loc["CBAM pool trained", "n_seeds"] == 1 and rows.loc["CBAM pool trained", "n_paired"] == 1
    assert "(3 seeds, the trained variants 1 seed;" in (tmp_path / "study.txt").read_text()
    frozen_only = attention_study(["synthetic:toy"], [0], preset("ci"), tmp_path / "b", runner=runner, progress=False,
                            spread_fn=fake_spread, trained_seeds=[])
    assert len(frozen_only) == 6 and not frozen_only["mode"].str.startswith("trained").any()
    calls = len(runner.calls)
    trained_only = attention_study(["synthetic:toy"], [], preset("ci"), tmp_path / "c", runner=runner, progress=False,
                             spread_fn=fake_spread, trained_seeds=[0])
    assert len(runner.calls) - calls == 8 and trained_only["mode"].str.startswith("trained").all()
    assert sorted(p.name for p in (tmp_path / "c" / "runs").iterdir()) == sorted(
        p.name for p in (tmp_path / "runs").iterdir() if "train_attention_true" in p.name)  # same names: mergeable


def test_run_spread_of_a_real_run_is_cached(explain_runs):  # the conftest's two tiny ci runs
    spread = spread_of_run(explain_runs["se"], max_images=8)
    assert spread["n_images"] == 8 and spread["mean_std"] > 0 and spread["dim"] == 512
    assert Run(explain_runs["se"]).read_spread()["mean_std"] == spread["mean_std"]
    assert spread_of_run(explain_runs["se"], max_images=8) == spread


def test_cli_study_help_and_bad_question(capsys):
    from adnkit.cli.main import main

    with pytest.raises(SystemExit):
        main(["study", "colour", "--data", "x", "--out", "y"])
    assert "invalid choice" in capsys.readouterr().err
