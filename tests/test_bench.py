import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_fakes import write_run

import adnkit.experiments.bench as bench_module
from adnkit.config.settings import Config, preset
from adnkit.core.errors import AdnkitError, ConfigError, DataError
from adnkit.data import expand_specs, spec_names
from adnkit.evaluation.auroc import auroc
from adnkit.experiments.bench import benchmark
from adnkit.experiments.terminal import format_summary
from adnkit.runs.folder import Run
from adnkit.training.state import open_run

METRIC_KEYS = {"auroc_last", "auroc_best", "best_epoch", "train_seconds", "eval_seconds", "train_images_per_s",
               "test_images_per_s", "peak_rss_mb", "n_train", "n_test", "attention", "seed", "dataset",
               "category", "threshold", "threshold_method", "device"}


class FakeRunner:
    """Writes a run folder in train's format, with scores that depend on the seed and attention;
    raises for the cells named in `fail` (spec, attention, seed)."""

    def __init__(self, fail=(), interrupt_after=None):
        self.calls: list[tuple[str, str, int, Path]] = []
        self.fail = set(fail)
        self.interrupt_after = interrupt_after

    def __call__(self, cfg: Config, run_dir: Path) -> dict:
        self.calls.append((cfg.data, cfg.attention, cfg.seed, run_dir))
        if self.interrupt_after is not None and len(self.calls) > self.interrupt_after:
            raise KeyboardInterrupt
        if (cfg.data, cfg.attention, cfg.seed) in self.fail:
            raise ValueError("CUDA out of memory\nwhile allocating 2 GiB")
        return write_fake_run(cfg, run_dir)


def write_fake_run(cfg: Config, run_dir: Path) -> dict:
    rng = np.random.default_rng(cfg.seed * 7 + len(cfg.attention))
    shift = {"none": 1.5, "se": 2.0}.get(cfg.attention, 1.0)
    labels = np.r_[np.zeros(12, int), np.ones(8, int)]
    scores = rng.normal(size=20) + shift * labels
    last = auroc(labels, scores)
    return write_run(cfg, run_dir, labels, scores, [max(0.5, last - 0.1), min(1.0, last + 0.02), last])


@pytest.fixture
def base():
    return preset("ci")


# --- specs -------------------------------------------------------------------------------------------------
def _category(path: Path) -> Path:
    (path / "train" / "good").mkdir(parents=True)
    (path / "test" / "good").mkdir(parents=True)
    return path


def test_expand_specs(tmp_path, monkeypatch):
    monkeypatch.chdir(_category(tmp_path / "cwd"))  # nothing named mvtec here
    mv = tmp_path / "mvtec"
    for cat in ("zipper", "bottle"):
        _category(mv / cat)
    (mv / "license_docs").mkdir()  # no train/: not a category
    ins = tmp_path / "insplad"
    _category(ins / "unsupervised_anomaly_detection" / "vari-grip")
    _category(ins / "unsupervised_anomaly_detection" / "glass-insulator")
    specs = ["elpv", f"mvtec:{mv}", f"mvtec:{mv}/zipper", f"insplad:{ins}", "synthetic:toy", "elpv:poly"]
    assert expand_specs(specs, tmp_path) == [
        "elpv:mono", "elpv:poly",
        f"mvtec:{mv}/bottle", f"mvtec:{mv}/zipper",  # sorted; the repeated zipper is dropped
        f"insplad:{ins}/unsupervised_anomaly_detection/glass-insulator",
        f"insplad:{ins}/unsupervised_anomaly_detection/vari-grip",
        "synthetic:toy",
    ]
    # A relative root is also looked up under data_root.
    assert expand_specs(["mvtec:mvtec"], tmp_path) == [f"mvtec:{mv.as_posix()}/bottle", f"mvtec:{mv.as_posix()}/zipper"]
    with pytest.raises(DataError, match="not found"):
        expand_specs([f"mvtec:{tmp_path / 'nowhere'}"], tmp_path)
    with pytest.raises(DataError, match="no category folder"):
        expand_specs([f"mvtec:{mv / 'license_docs'}"], tmp_path)


def test_spec_names():
    assert spec_names("mvtec:/data/mvtec/metal_nut") == ("mvtec", "metal_nut")
    assert spec_names("elpv:mono") == ("elpv", "mono")
    assert spec_names("synthetic:my toy") == ("synthetic", "my toy")
    assert spec_names("/data/wafers/lot7/") == ("folder", "lot7")


# --- running -----------------------------------------------------------------------------------------------
SPECS = ["synthetic:toy a", "synthetic:toyb"]


def test_run_bench_records_failure_and_goes_on(tmp_path, base):
    runner = FakeRunner(fail={("synthetic:toy a", "se", 1)})
    results = benchmark(SPECS, ["none", "se"], [0, 1], base, tmp_path, runner=runner, progress=False)
    assert len(runner.calls) == 8
    # Each call got the cell's settings and its own sanitised folder.
    data, attention, seed, run_dir = runner.calls[0]
    assert (data, attention, seed) == ("synthetic:toy a", "none", 0)
    assert run_dir == tmp_path / "runs" / "synthetic-toy_a-none-seed0"
    assert json.loads((run_dir / "config.json").read_text())["image_size"] == base.image_size

    on_disk = pd.read_csv(tmp_path / "results.csv")
    assert len(on_disk) == len(results) == 8
    assert list(on_disk.columns[:8]) == ["dataset", "category", "spec", "attention", "seed", "status", "reason",
                                         "run_dir"]
    assert METRIC_KEYS <= set(on_disk.columns)
    bad = on_disk[on_disk.status == "failed"]
    assert len(bad) == 1 and (bad.attention.item(), bad.seed.item()) == ("se", 1)
    assert bad.reason.item() == "ValueError: CUDA out of memory while allocating 2 GiB"
    assert (tmp_path / bad.run_dir.item() / "error.txt").read_text().startswith("Traceback")
    assert (on_disk.status == "ok").sum() == 7  # the cells after the failure still ran
    ok = on_disk[on_disk.status == "ok"]
    assert ok.auroc_best.ge(ok.auroc_last).all() and ok.peak_rss_mb.eq(812.5).all()

    summary = pd.read_csv(tmp_path / "summary.csv")
    toy_a_se = summary[(summary.category == "toy a") & (summary.attention == "se")].iloc[0]
    assert toy_a_se.n_seeds == 1 and toy_a_se.n_paired == 1
    toyb_se = summary[(summary.category == "toyb") & (summary.attention == "se")].iloc[0]
    assert toyb_se.n_seeds == 2
    expected = ok[(ok.category == "toyb") & (ok.attention == "se")].auroc_best.mean()
    assert toyb_se.auroc_best_mean == pytest.approx(expected)

    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["expanded_specs"] == SPECS and bench["attentions"] == ["none", "se"] and bench["seeds"] == [0, 1]
    assert bench["base_config"]["image_size"] == base.image_size

    # The same command again: only the failed cell runs (and now succeeds).
    again = FakeRunner()
    results2 = benchmark(SPECS, ["none", "se"], [0, 1], base, tmp_path, runner=again, progress=False)
    assert [(c[0], c[1], c[2]) for c in again.calls] == [("synthetic:toy a", "se", 1)]
    assert (results2.status == "ok").all() and results2.reused.sum() == 7
    before = results.set_index("run_dir").auroc_last.dropna()
    assert results2.set_index("run_dir").auroc_last[before.index].tolist() == pytest.approx(before.tolist())


def test_keyboard_interrupt_is_not_swallowed(tmp_path, base):
    runner = FakeRunner(interrupt_after=2)
    with pytest.raises(KeyboardInterrupt):
        benchmark(SPECS, ["none"], [0, 1, 2], base, tmp_path, runner=runner, progress=False)
    on_disk = pd.read_csv(tmp_path / "results.csv")
    assert len(on_disk) == 6 and (on_disk.status == "ok").sum() == 2 and (on_disk.status == "pending").sum() == 4


def test_rerun_with_other_settings_is_refused(tmp_path, base):
    benchmark(["synthetic:t"], ["none"], [0], base, tmp_path, runner=FakeRunner(), progress=False)
    runner = FakeRunner()
    with pytest.raises(AdnkitError, match="image_size"):
        benchmark(["synthetic:t"], ["none"], [0], base.replace(image_size=192), tmp_path, runner=runner,
                  progress=False)
    assert runner.calls == []
    # A new seed with the same settings is fine: only the new cell runs.
    benchmark(["synthetic:t"], ["none"], [0, 1], base, tmp_path, runner=runner, progress=False)
    assert [c[2] for c in runner.calls] == [1]


def test_bad_attention_fails_before_any_run(tmp_path, base):
    runner = FakeRunner()
    with pytest.raises(ConfigError):
        benchmark(["synthetic:t"], ["none", "nope"], [0], base, tmp_path, runner=runner, progress=False)
    assert runner.calls == []


def test_format_summary(tmp_path, base):
    benchmark(SPECS[1:], ["none", "se"], [0, 1], base, tmp_path, runner=FakeRunner(), progress=False)
    summary = pd.read_csv(tmp_path / "summary.csv")
    text = format_summary(summary)
    row = summary[(summary.category == "toyb") & (summary.attention == "se")].iloc[0]
    assert f"{100 * row.auroc_best_mean:.2f} +- {100 * row.auroc_best_std:.2f}" in text
    assert f"{100 * row.gain_last_mean:+.2f}" in text
    assert "best = max over evaluations on the test set, as in the papers" in text
    assert not [line for line in text.splitlines() if line.split()[1:2] == ["mean"]]  # one category: no mean row
    assert "AUROC last (%)" in text and "AUROC best (%)" in text
    assert format_summary(summary.iloc[:0]).startswith("No finished runs")


def test_dataset_name_from_the_run_wins_over_the_spec(tmp_path, base):
    def runner(cfg, run_dir):
        metrics = write_fake_run(cfg, run_dir)
        if cfg.seed == 1:
            raise RuntimeError("boom")
        metrics.update(dataset="mvtec", category="bottle")
        Run(run_dir).write_metrics(metrics)
        return metrics

    results = benchmark(["/some/where/bottle_copy"], ["none"], [0, 1], base, tmp_path, runner=runner, progress=False)
    assert list(zip(results.dataset, results.category, results.status, strict=True)) == [
        ("mvtec", "bottle", "ok"), ("folder", "bottle_copy", "failed")]
    assert list(results.run_dir) == ["runs/folder-bottle_copy-none-seed0", "runs/folder-bottle_copy-none-seed1"]
    # The failed run had written metrics.json before raising: it must not count as finished on a rerun.
    assert not (tmp_path / results.run_dir[1] / "metrics.json").exists()
    assert (tmp_path / results.run_dir[1] / "metrics.partial.json").exists()


def test_default_runner_is_train_and_resumes_a_failed_attempt(tmp_path, base, monkeypatch):
    calls = []

    def train(cfg, out_dir, resume=False, progress=True):
        cfg, resuming = open_run(cfg, out_dir, resume)  # the one place that decides, as the real train does
        calls.append((cfg.seed, resuming))
        if not resuming:
            Run.create(out_dir, cfg)  # the real one claims the folder first
            raise RuntimeError("interrupted by a power cut")
        return write_fake_run(cfg, Path(out_dir))

    monkeypatch.setattr(bench_module, "train", train)
    first = benchmark(["synthetic:t"], ["none"], [0], base, tmp_path, progress=False)
    assert first.status.tolist() == ["failed"] and calls == [(0, False)]
    second = benchmark(["synthetic:t"], ["none"], [0], base, tmp_path, progress=False)
    assert second.status.tolist() == ["ok"] and calls == [(0, False), (0, True)]


def test_paired_gains_are_written_and_printed(tmp_path, base):
    from adnkit.evaluation.verdict import paired_gains
    from adnkit.experiments.terminal import format_paired

    results = benchmark(["synthetic:toya"], ["none", "se"], list(range(6)), base, tmp_path, runner=FakeRunner(),
                        progress=False)
    paired = pd.read_csv(tmp_path / "paired.csv")
    last = paired[(paired.variant == "se") & (paired.metric == "auroc_last")].iloc[0]
    assert last.n_pairs == 6 and last.n_units == 6 and last.unit == "seed"  # one category: its seeds are the units
    assert np.isfinite(last.gain_ci_low) and last.verdict in ("a gain", "a loss", "no difference shown")
    ok = results[results.status == "ok"]
    gains = (
        ok[ok.attention == "se"].set_index("seed").auroc_last - ok[ok.attention == "none"].set_index("seed").auroc_last
    )
    assert last.gain_mean == pytest.approx(gains.mean())
    assert last.wins + last.ties + last.losses == 6 and last.wins == int((gains > 1e-6).sum())
    summary = pd.read_csv(tmp_path / "summary.csv")
    verdict = summary[(summary.category == "mean") & (summary.attention == "se")]["verdict_last"].item()
    assert verdict == last.sentence and last.verdict in verdict
    text = format_paired(paired_gains(results))
    assert text.startswith("Is the difference real?") and "se vs none on synthetic (last)" in text
    assert text.splitlines()[1] == f"- {last.sentence}" and "over 6 seeds of one category" in text
    assert len(text.splitlines()) == 2  # one line per variant: the last AUROC's verdict


def test_paired_gains_per_grid_combination(tmp_path, base):
    from adnkit.experiments.tables import paired_table

    results = benchmark(["synthetic:toya"], ["none", "se"], [0, 1], base, tmp_path, runner=FakeRunner(),
                        progress=False, grid={"attention_site": ["relu", "pool"]})
    paired = pd.read_csv(tmp_path / "paired.csv")
    assert set(paired["attention_site"]) == {"relu", "pool"}
    assert paired["sentence"].str.startswith("[attention_site=").all()
    assert (paired["n_pairs"] == 2).all()  # each site paired with DifferNet of the same site, not with both
    from adnkit.evaluation.verdict import paired_gains

    relu = paired_gains(results[results["attention_site"] == "relu"])
    mine = paired[(paired["attention_site"] == "relu")].reset_index(drop=True)
    assert list(mine["gain_mean"]) == pytest.approx(list(relu["gain_mean"]))
    assert list(paired_table(results, ["attention_site"])["variant"].unique())[:1] == ["se attention_site=relu"]


def test_one_run_cells_show_their_bootstrap_interval_and_no_comparison(tmp_path, base):
    from adnkit.experiments.tables import paired_table
    from adnkit.experiments.terminal import format_paired

    def with_ci(cfg, run_dir):
        metrics = write_fake_run(cfg, run_dir) | {"auroc_last_ci": [0.61, 0.83]}
        Run(run_dir).write_metrics(metrics)
        return metrics

    results = benchmark(["synthetic:toya"], ["none", "se"], [0], base, tmp_path, runner=with_ci, progress=False)
    summary = pd.read_csv(tmp_path / "summary.csv")
    text = format_summary(summary, results)
    assert f"{100 * results.auroc_last[0]:.2f} [61.0, 83.0]" in text
    assert format_paired(paired_table(results)).splitlines()[1] == (
        "- One seed per variant: no comparison; `--seeds 3` or more for one.")


def test_one_seed_prints_what_it_can_say_not_a_verdict(tmp_path, base):
    """With one seed per variant (the demo) the terminal says each difference beside a run's own 95% interval and
    that it cannot tell; with several seeds it prints the verdict lines instead."""
    from adnkit.experiments.terminal import format_paired, one_seed_conclusion

    def runner(cfg, run_dir):  # a run with its 95% test-set interval, 20 points wide
        metrics = {**write_fake_run(cfg, run_dir), "auroc_last_ci": [0.7, 0.9]}
        Run(run_dir).write_metrics(metrics)
        return metrics

    results = benchmark(["synthetic:toya"], ["none", "se"], [0], base, tmp_path, runner=runner, progress=False)
    paired = pd.read_csv(tmp_path / "paired.csv")
    text = format_paired(paired, results)
    ok = results[results.status == "ok"].set_index("attention")
    gain = 100 * (ok.auroc_last["se"] - ok.auroc_last["none"])
    assert text == one_seed_conclusion(results) and "cannot say whether attention helps" in text
    assert f"se {gain:+.1f}" in text and f"DifferNet {100 * ok.auroc_last['none']:.1f}%" in text
    assert len(text.splitlines()) == 1 and "(about 20 points wide)" in text
    assert format_paired(paired).startswith("Is the difference real?")  # without the runs: the verdict lines
    several = benchmark(["synthetic:toya"], ["none", "se"], [0, 1, 2], base, tmp_path / "b", runner=FakeRunner(),
                        progress=False)
    assert one_seed_conclusion(several) == ""
    assert format_paired(pd.read_csv(tmp_path / "b" / "paired.csv"), several).startswith("Is the difference real?")
