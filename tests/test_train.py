"""Training and scoring: real runs at the ci preset on a small synthetic set."""

from __future__ import annotations

import json
import math
import pickle
import time
from collections import Counter

import pandas as pd
import pytest
import torch

import adnkit.training.steps as steps_module
import adnkit.training.trainer as train_module
from adnkit.config.settings import preset
from adnkit.core.errors import AdnkitError
from adnkit.data.dataset import ImageDataset
from adnkit.detection.detector import Detector
from adnkit.training.trainer import TrainingError, train

METRIC_TYPES = {
    "auroc_last": float, "auroc_best": float, "best_epoch": int, "train_seconds": float, "eval_seconds": float,
    "train_images_per_s": float, "test_images_per_s": float, "peak_rss_mb": float, "n_train": int,
    "n_test": int, "attention": str, "seed": int,
}

pytestmark = pytest.mark.slow  # real training runs


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def ci_cfg(data_root, **overrides):
    return preset("ci", data="synthetic:train-test", data_root=str(data_root), **overrides)


@pytest.fixture(scope="module")
def finished_run(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "none"
    metrics = train(ci_cfg(data_root, meta_epochs=3), out, progress=False)
    return out, metrics


def test_reaches_a_high_auroc_on_synthetic_defects(finished_run):
    _, metrics = finished_run
    assert metrics["auroc_best"] >= 0.9, metrics
    assert metrics["auroc_last"] >= 0.85, metrics


def test_run_folder_holds_the_contract(finished_run):
    out, metrics = finished_run
    for name in ("config.json", "history.csv", "metrics.json", "scores.csv", "model.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    stored = json.loads((out / "metrics.json").read_text())
    for key, kind in METRIC_TYPES.items():
        assert isinstance(stored[key], kind), (key, stored[key])
    assert stored == metrics
    assert 0 <= stored["auroc_last"] <= 1 and 1 <= stored["best_epoch"] <= 3
    assert stored["auroc_best"] == max(pd.read_csv(out / "history.csv")["auroc"])
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns) == ["meta_epoch", "epoch", "train_loss", "auroc", "seconds", "val_loss",
                                     "val_score_mean"]
    assert list(history["meta_epoch"]) == [1, 2, 3]
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["path", "label", "defect", "score"]
    assert len(scores) == stored["n_test"] and scores["score"].notna().all()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["meta_epochs"] == 3 and cfg["attention"] == "none"


def test_same_seed_gives_the_same_numbers(finished_run, data_root, tmp_path):
    out, metrics = finished_run
    again = train(ci_cfg(data_root, meta_epochs=3), tmp_path / "again", progress=False)
    assert again["auroc_last"] == metrics["auroc_last"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv"), pd.read_csv(tmp_path / "again" / "scores.csv"))
    a = pd.read_csv(out / "history.csv")["train_loss"]
    b = pd.read_csv(tmp_path / "again" / "history.csv")["train_loss"]
    assert a.tolist() == b.tolist()


def test_score_command_agrees_with_training_scores(finished_run):
    out, _ = finished_run
    run = Detector.load(out, device="cpu")
    table = pd.read_csv(out / "scores.csv").head(6)
    fresh = run.score_files(table["path"].tolist())
    assert fresh["score"].to_numpy() == pytest.approx(table["score"].to_numpy(), rel=1e-4, abs=1e-5)
    assert set(fresh["decision"]) <= {"good", "anomalous"}
    assert ((fresh["score"] >= run.threshold.value) == (fresh["decision"] == "anomalous")).all()
    assert ("test set" in run.threshold.text or "quantile" in run.threshold.text
            or "validation images" in run.threshold.text)


def test_resume_after_interrupt_gives_the_same_weights(finished_run, data_root, tmp_path, monkeypatch):
    out, _ = finished_run
    calls = {"n": 0}
    real = steps_module.epoch_cached

    def interrupt_in_second_meta_epoch(model, optimizer, pool, cfg, gen, meta, *rest):
        if meta == 2:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(model, optimizer, pool, cfg, gen, meta, *rest)

    monkeypatch.setattr(steps_module, "epoch_cached", interrupt_in_second_meta_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(ci_cfg(data_root, meta_epochs=3), tmp_path / "r", progress=False)
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert ckpt["meta_epoch"] == 1  # at most one meta epoch lost
    monkeypatch.setattr(steps_module, "epoch_cached", real)
    resumed = train(ci_cfg(data_root), tmp_path / "r", resume=True, progress=False)
    assert resumed["meta_epochs"] == 3
    a = torch.load(out / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "r" / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_phases_add_up_to_the_wall_time_of_the_run(data_root, tmp_path):
    t0 = time.perf_counter()
    metrics = train(ci_cfg(data_root, meta_epochs=2), tmp_path / "timed", progress=False)
    wall = time.perf_counter() - t0
    phases = metrics["phases"]
    assert {"data", "model", "train.backbone", "train.forward", "train.backward", "train.optimizer",
            "eval.backbone", "eval.flow", "checkpoint", "outputs", "metrics"} <= set(phases)
    assert sum(phases.values()) == pytest.approx(wall, rel=0.03)
    assert metrics["phases_cpu"].keys() == phases.keys()
    assert metrics["startup_seconds"] > 0
    assert json.loads((tmp_path / "timed" / "metrics.json").read_text())["phases"] == phases


def test_fresh_rotations_decode_each_image_once_and_change_no_number(data_root, tmp_path, monkeypatch):
    reads = Counter()
    real = ImageDataset.__getitem__

    def counted(self, index):
        reads[self.samples[index].path] += 1
        return real(self, index)

    monkeypatch.setattr(ImageDataset, "__getitem__", counted)
    cfg = ci_cfg(data_root, feature_cache_views=0, meta_epochs=2, sub_epochs=2)
    once = train(cfg, tmp_path / "once", progress=False)
    assert reads and max(reads.values()) == 1  # training, test and validation images: one read each
    monkeypatch.setattr(train_module, "decoded_once", lambda dataset, workers: dataset)  # read every epoch
    every = train(cfg, tmp_path / "every", progress=False)
    assert once["auroc_last"] == every["auroc_last"]
    a, b = (torch.load(tmp_path / name / "model.pt", weights_only=True)["model"] for name in ("once", "every"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_run_into_the_same_folder_is_refused(finished_run, data_root):
    out, _ = finished_run
    with pytest.raises(AdnkitError, match="--resume"):
        train(ci_cfg(data_root), out, progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data_root, tmp_path, monkeypatch):
    real = steps_module.nll_loss
    state = {"meta": 0}
    real_epoch = steps_module.epoch_cached

    def track(*args, **kwargs):
        state["meta"] = args[5]  # meta epoch
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(steps_module, "epoch_cached", track)
    monkeypatch.setattr(steps_module, "nll_loss",
                        lambda z, j: real(z, j) * (float("nan") if state["meta"] == 2 else 1.0))
    with pytest.raises(TrainingError, match="meta epoch 2"):
        train(ci_cfg(data_root, meta_epochs=3), tmp_path / "nan", progress=False)
    ckpt = torch.load(tmp_path / "nan" / "checkpoint.pt", weights_only=True)
    assert ckpt["meta_epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_trained_attention_runs_without_the_feature_cache(data_root, tmp_path):
    cfg = ci_cfg(data_root, attention="se", train_attention=True, meta_epochs=1, sub_epochs=1)
    metrics = train(cfg, tmp_path / "se", progress=False)
    assert metrics["feature_cache"] is False and math.isfinite(metrics["auroc_last"])
    stored = torch.load(tmp_path / "se" / "model.pt", weights_only=True)["model"]
    untrained = Detector.load(tmp_path / "se", device="cpu").model  # reloads the stored, trained blocks
    fresh = train_module.DifferNet(cfg, progress=False)
    key = next(k for k in stored if k.startswith("backbone.attention."))
    assert torch.equal(untrained.state_dict()[key], stored[key])
    assert not torch.equal(fresh.state_dict()[key], stored[key])  # the blocks did train


def test_a_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    (tmp_path / "config.json").write_text(preset("ci").to_json())
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(AdnkitError, match="cannot load"):
        Detector.load(tmp_path, device="cpu")


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(data_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(AdnkitError, match="--device cpu"):
        train(ci_cfg(data_root, device="cuda"), tmp_path / "gpu", progress=False)


def test_train_or_reuse_reuses_a_finished_run(finished_run, data_root, tmp_path, monkeypatch):
    cfg = ci_cfg(data_root, meta_epochs=1, sub_epochs=1)
    first = train_module.train_or_reuse(tmp_path, cfg, progress=False)
    assert (first / "metrics.json").is_file() and first.name.startswith("none-seed0-")

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run must be reused")

    monkeypatch.setattr(train_module, "train", must_not_train)
    assert train_module.train_or_reuse(tmp_path, cfg, progress=False) == first
    assert train_module.train_or_reuse.__module__ == "adnkit.training.trainer"
    other = cfg.replace(seed=1)
    with pytest.raises(AssertionError):
        train_module.train_or_reuse(tmp_path, other, progress=False)
