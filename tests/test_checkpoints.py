"""Checkpoints that do not cost the run: snapshots every meta epoch, writes when due (in the background), the
newest snapshot written on Ctrl-C or an error, Adam's state left out of a finished run, and a run killed with
SIGKILL that resumes to bit-identical weights and metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

import adnkit.training.checkpoints as checkpoints_module
import adnkit.training.evaluation as evaluation_module
from adnkit.config.settings import preset
from adnkit.core.errors import ConfigError
from adnkit.runs.folder import Run
from adnkit.training.checkpoints import Checkpoints, copy_into
from adnkit.training.trainer import train


def state(value: float) -> dict:
    return dict(model={"w": torch.full((3,), value)}, optimizer={"state": {0: {"exp_avg": torch.full((3,), value)}}},
                meta_epoch=int(value))


class Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now


def test_a_snapshot_is_a_copy_written_into_the_same_buffers():
    live = state(1.0)
    snap = copy_into(None, live)
    live["model"]["w"].add_(5.0)
    assert snap["model"]["w"].tolist() == [1.0, 1.0, 1.0]
    buffer = snap["model"]["w"]
    again = copy_into(snap, live)
    assert again["model"]["w"] is buffer and buffer.tolist() == [6.0, 6.0, 6.0]
    assert again["meta_epoch"] == 1


def test_writes_when_due_and_the_newest_snapshot_on_flush(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(checkpoints_module, "time", clock)
    run = Run(tmp_path / "r")
    checkpoints = Checkpoints(run, minutes=10, on_disk=0)
    clock.now = 60.0
    checkpoints.meta_epoch_done(state(1.0), 1, last=False)  # 1 minute after the start: not due
    checkpoints.wait()
    assert not run.has_checkpoint
    clock.now = 601.0
    checkpoints.meta_epoch_done(state(2.0), 2, last=False)  # due: written in the background
    checkpoints.wait()
    assert run.load_checkpoint()["meta_epoch"] == 2
    clock.now = 700.0
    checkpoints.meta_epoch_done(state(3.0), 3, last=False)  # not due
    checkpoints.wait()
    assert run.load_checkpoint()["meta_epoch"] == 2
    checkpoints.flush()  # Ctrl-C or an error: the newest snapshot goes to disk
    assert run.load_checkpoint()["meta_epoch"] == 3
    assert checkpoints.record()["writes"] == 2 and checkpoints.record()["bytes"] > 0
    checkpoints.meta_epoch_done(state(4.0), 4, last=True)  # the last meta epoch is always written
    checkpoints.wait()
    assert run.load_checkpoint()["meta_epoch"] == 4


def test_a_failed_background_write_is_raised_in_the_main_thread(tmp_path, monkeypatch):
    run = Run(tmp_path / "r")

    def disk_full(_state):
        raise OSError("No space left on device")

    monkeypatch.setattr(run, "save_checkpoint", disk_full)
    checkpoints = Checkpoints(run, minutes=0, on_disk=0)
    checkpoints.meta_epoch_done(state(1.0), 1, last=False)
    with pytest.raises(OSError, match="No space"):
        checkpoints.wait()


def test_checkpoint_minutes_must_not_be_negative():
    with pytest.raises(ConfigError, match="checkpoint_minutes"):
        preset("ci", checkpoint_minutes=-1)


# --- real runs ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("ckpt-data")


def ci_cfg(data_root, **overrides):
    return preset("ci", data="synthetic:train-test", data_root=str(data_root), **overrides)


@pytest.mark.slow
def test_a_finished_run_keeps_no_adam_state_and_resumes_to_the_same_numbers(data_root, tmp_path):
    metrics = train(ci_cfg(data_root, meta_epochs=2), tmp_path / "r", progress=False)
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert ckpt["meta_epoch"] == 2 and ckpt["optimizer"] is None
    assert metrics["checkpoints"]["writes"] >= 1
    (tmp_path / "r" / "metrics.json").unlink()  # as if it died after the last checkpoint
    again = train(ci_cfg(data_root), tmp_path / "r", resume=True, progress=False)
    assert again["auroc_last"] == metrics["auroc_last"] and again["threshold"] == metrics["threshold"]


@pytest.mark.slow
def test_select_val_keeps_the_weights_of_the_selected_evaluation(data_root, tmp_path, monkeypatch):
    real = evaluation_module.scores_and_loss
    losses = iter([1.0, 2.0, 3.0])  # the first evaluation has the lowest validation loss

    def fixed_loss(model, emb, *args):
        return real(model, emb, *args)[0], next(losses)

    monkeypatch.setattr(evaluation_module, "scores_and_loss", fixed_loss)
    selected = train(ci_cfg(data_root, meta_epochs=3, select="val"), tmp_path / "val", progress=False)
    monkeypatch.setattr(evaluation_module, "scores_and_loss", real)
    first = train(ci_cfg(data_root, meta_epochs=1), tmp_path / "first", progress=False)
    assert selected["val_selected_epoch"] == 1 and selected["selected"] == "val"
    a = torch.load(tmp_path / "val" / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "first" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in b)
    scores_val = pd.read_csv(tmp_path / "val" / "scores.csv")["score"]
    scores_first = pd.read_csv(tmp_path / "first" / "scores.csv")["score"]
    assert scores_val.tolist() == scores_first.tolist()
    assert selected["auroc_val_selected"] == first["auroc_last"]


TIMING = ("train_seconds", "eval_seconds", "train_images_per_s", "test_images_per_s", "peak_rss_mb", "phases",
          "phases_cpu", "checkpoints", "startup_seconds")


def _cli(data_root, out, *extra) -> list[str]:
    return [sys.executable, "-m", "adnkit", "train", "--preset", "ci", "--data", "synthetic:train-test",
            "--data-root", str(data_root), "--meta-epochs", "5", "--checkpoint-minutes", "0", "--out", str(out),
            "--quiet", *extra]


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_resumes_bit_identical(data_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli(data_root, tmp_path / "whole"), env=env, check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(data_root, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"
    ckpt = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert 1 <= ckpt["meta_epoch"] < 5 and ckpt["optimizer"] is not None
    subprocess.run(_cli(data_root, killed, "--resume"), env=env, check=True, capture_output=True)
    assert not list(killed.glob(".checkpoint.pt.*"))  # what a killed write left is gone
    whole, resumed = (json.loads((p / "metrics.json").read_text()) for p in (tmp_path / "whole", killed))
    same = [json.dumps({k: v for k, v in m.items() if k not in TIMING}, sort_keys=True) for m in (whole, resumed)]
    assert same[0] == same[1]
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["model"]
    b = torch.load(killed / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = [pd.read_csv(p / "history.csv").drop(columns="seconds") for p in (tmp_path / "whole", killed)]
    pd.testing.assert_frame_equal(*history)
    assert pd.read_csv(tmp_path / "whole" / "scores.csv")["score"].tolist() == \
        pd.read_csv(killed / "scores.csv")["score"].tolist()
