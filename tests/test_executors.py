"""adnkit.experiments.executors: the bench matrix as Ray tasks gives the serial run's results, cell for cell.

The tests marked `ray` share one local Ray instance (127.0.0.1, 2 CPUs) for the module and shut it down after;
deselect them with -m 'not ray'. The serial run uses one torch thread, as each Ray task does (--cpus-per-run 1),
so the two agree to the last bit.
"""

import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from adnkit.cli.main import main
from adnkit.config.settings import preset
from adnkit.core.errors import AdnkitError
from adnkit.experiments.bench import benchmark

SPEC = "synthetic:ray"
SHRINK = dict(meta_epochs=1, sub_epochs=1, max_train_images=16)
# Columns that measure time, memory or where a row came from, not what the run computed.
NOT_COMPARED = {"train_seconds", "eval_seconds", "train_images_per_s", "test_images_per_s", "peak_rss_mb",
                "cuda_peak_mb", "reused", "phases", "phases_cpu", "checkpoints", "startup_seconds"}


def bench_args(root: Path, out: Path, executor: str) -> list[str]:
    return ["bench", "--data", SPEC, "--attention", "none", "se", "--seeds", "2", "--preset", "ci",
            "--data-root", str(root), "--meta-epochs", "1", "--sub-epochs", "1", "--max-train-images", "16",
            "--out", str(out), "--quiet", "--executor", executor]


def compared(results: pd.DataFrame) -> pd.DataFrame:
    return results[[c for c in results.columns if c not in NOT_COMPARED]]


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance on 127.0.0.1 with 2 CPUs for this module; shut down afterwards."""
    ray = pytest.importorskip("ray")
    for attempt in range(3):  # Ray's start-up can time out on a busy 2-core machine: try again
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                     object_store_memory=200 * 2**20, logging_level="warning")
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def benches(ray_local, one_thread, tmp_path_factory):
    """The same 2 variants x 2 seeds matrix (ci preset, shrunk) through `adnkit bench`, serial and on Ray."""
    root = tmp_path_factory.mktemp("ray-data")
    outs = {}
    for executor in ("serial", "ray"):
        outs[executor] = tmp_path_factory.mktemp(f"bench-{executor}")
        assert main(bench_args(root, outs[executor], executor)) == 0
    return root, outs


@pytest.mark.ray
def test_ray_matrix_equals_the_serial_one(benches):
    _, outs = benches
    serial = pd.read_csv(outs["serial"] / "results.csv")
    on_ray = pd.read_csv(outs["ray"] / "results.csv")
    assert list(zip(on_ray.attention, on_ray.seed, strict=True)) == [("none", 0), ("none", 1), ("se", 0), ("se", 1)]
    assert (on_ray.status == "ok").all() and not on_ray.reused.any()
    assert list(on_ray.columns) == list(serial.columns)
    pd.testing.assert_frame_equal(compared(on_ray), compared(serial), check_exact=True)
    for run_dir in on_ray.run_dir:  # every test image's score, and every evaluation, to the last bit
        assert (outs["ray"] / run_dir / "scores.csv").read_bytes() == (
            outs["serial"] / run_dir / "scores.csv"
        ).read_bytes()
        hist = [pd.read_csv(outs[e] / run_dir / "history.csv").drop(columns="seconds") for e in ("ray", "serial")]
        pd.testing.assert_frame_equal(*hist, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(outs["ray"] / "summary.csv"), pd.read_csv(outs["serial"] / "summary.csv"),
                                  check_exact=True)
    assert (outs["ray"] / "report.html").is_file()


@pytest.mark.ray
def test_rerun_on_ray_reuses_every_cell(benches):
    from adnkit.experiments.executors import RayExecutor

    root, outs = benches
    before = pd.read_csv(outs["ray"] / "results.csv")

    def must_not_run(cfg, run_dir):
        raise AssertionError(f"{run_dir} was trained again")

    again = benchmark([SPEC], ["none", "se"], [0, 1], preset("ci", data_root=str(root), **SHRINK), outs["ray"],
                      runner=must_not_run, progress=False, executor=RayExecutor())
    assert (again.status == "ok").all() and again.reused.all()
    pd.testing.assert_frame_equal(compared(pd.read_csv(outs["ray"] / "results.csv")), compared(before),
                                  check_exact=True)


@pytest.mark.ray
def test_a_corrupt_cell_fails_alone(benches, tmp_path):
    from adnkit.experiments.executors import RayExecutor

    root, outs = benches
    bad = tmp_path / "corrupt" / "ray"
    shutil.copytree(root / "synthetic" / "ray", bad)
    broken = sorted((bad / "test" / "good").iterdir())[0]  # every test image is used
    broken.write_bytes(b"this is not a PNG file")
    results = benchmark([str(bad), SPEC], ["none"], [0], preset("ci", data_root=str(root), **SHRINK),
                        tmp_path / "out", progress=False, executor=RayExecutor())
    assert results.status.tolist() == ["failed", "ok"]
    reason = results.reason[0]
    assert reason.startswith("DataError: ") and broken.name in reason and "\n" not in reason
    assert "Traceback" in (tmp_path / "out" / results.run_dir[0] / "error.txt").read_text()
    # The good cell ran to the end, and computed what the serial run of the same cell did.
    serial = pd.read_csv(outs["serial"] / "results.csv").set_index("run_dir").loc[results.run_dir[1]]
    assert results.auroc_last[1] == serial.auroc_last and results.threshold[1] == serial.threshold


@pytest.mark.ray
def test_a_killed_worker_fails_only_its_cell(ray_local, tmp_path):
    from adnkit.experiments.executors import RayExecutor

    def runner(cfg, run_dir):  # defined here so that Ray ships it by value to the workers
        import os

        if cfg.seed == 1:
            os._exit(3)  # the worker process dies, as when the system kills it
        metrics = dict(auroc_last=0.9, auroc_best=0.95, seed=cfg.seed)
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics

    results = benchmark(["synthetic:t"], ["none"], [0, 1, 2], preset("ci"), tmp_path, runner=runner,
                        progress=False, executor=RayExecutor())
    assert results.status.tolist() == ["ok", "failed", "ok"]
    reason = results.reason[1]
    assert reason and "\n" not in reason and reason.split(":")[0].endswith("Error")
    assert (tmp_path / results.run_dir[1] / "error.txt").is_file()
    assert pd.read_csv(tmp_path / "results.csv").status.tolist() == ["ok", "failed", "ok"]


@pytest.mark.ray
def test_ctrl_c_cancels_the_outstanding_tasks(ray_local, tmp_path, monkeypatch):
    from adnkit.experiments.executors import RayExecutor

    def runner(cfg, run_dir):
        import time

        time.sleep(120)

    cancelled = []
    real_cancel = ray_local.cancel
    monkeypatch.setattr(ray_local, "wait", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    monkeypatch.setattr(ray_local, "cancel", lambda ref, **k: (cancelled.append(k), real_cancel(ref, **k)))
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        benchmark(["synthetic:t"], ["none"], [0, 1, 2], preset("ci"), tmp_path, runner=runner, progress=False,
                  executor=RayExecutor())
    assert cancelled == [dict(force=True)] * 3
    assert time.monotonic() - started < 100  # did not wait for the sleeping tasks
    assert (pd.read_csv(tmp_path / "results.csv").status == "pending").all()


@pytest.mark.ray
def test_impossible_resources_are_refused_before_anything_runs(ray_local, tmp_path):
    from adnkit.experiments.executors import RayExecutor

    with pytest.raises(AdnkitError, match="no node of the Ray cluster has that many GPUs"):
        benchmark(["synthetic:t"], ["none"], [0], preset("ci", device="auto"), tmp_path, runner=lambda c, d: {},
                  progress=False, executor=RayExecutor(gpus_per_run=1))
    for bad in ("1.5", "-1"):
        with pytest.raises(AdnkitError, match="--gpus-per-run"):
            RayExecutor(gpus_per_run=float(bad))


def test_executor_ray_without_ray_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "bench"
    assert main(["bench", "--data", "synthetic:t", "--preset", "ci", "--out", str(out), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'adnkit[ray]'" in err and "Traceback" not in err
    assert not out.exists()  # refused before anything was written


def test_ray_flags_need_executor_ray(tmp_path, capsys):
    assert main(["bench", "--data", "synthetic:t", "--preset", "ci", "--out", str(tmp_path / "b"),
                 "--gpus-per-run", "0.5"]) == 2
    assert "--gpus-per-run only apply to Ray; add --executor ray" in capsys.readouterr().err
