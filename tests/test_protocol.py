"""The validation protocol through real training runs: held-out validation images, a threshold that needs no
test labels, model selection on the validation loss, intervals and the new metrics."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import adnkit.training.steps as steps_module
from adnkit.config.settings import preset
from adnkit.core.errors import ConfigError
from adnkit.data import load_split
from adnkit.evaluation.auroc import auroc_ci
from adnkit.runs.folder import Run
from adnkit.training.trainer import train

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # trains real runs


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """An MVTec-layout copy of a small synthetic set, so that tests can move test images between classes."""
    root = tmp_path_factory.mktemp("protocol-data")
    split = load_split(preset("ci", data="synthetic:protocol", data_root=str(root), val_fraction=0))
    cat = root / "cat"
    for s in split.train:
        (cat / "train" / "good").mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, cat / "train" / "good" / s.path.name)
    for i, s in enumerate(split.test):
        where = cat / "test" / ("good" if s.label == 0 else "scratch")
        where.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, where / f"{i:03d}{s.path.suffix}")
    return cat


def _cfg(folder, **overrides):
    return preset("ci", data=str(folder), **{"meta_epochs": 3, "sub_epochs": 1, **overrides})


@pytest.fixture(scope="module")
def val_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "val"
    return out, train(_cfg(folder, select="val"), out, progress=False)


def test_new_keys_are_written_and_labelled(val_run):
    out, metrics = val_run
    history = Run(out).read_history()
    assert history["val_loss"].notna().all() and history["val_score_mean"].notna().all()
    pick = int(history["val_loss"].idxmin())
    assert metrics["auroc_val_selected"] == history["auroc"][pick]
    assert metrics["val_selected_epoch"] == history["meta_epoch"][pick]
    assert metrics["selected"] == "val"
    low, high = metrics["auroc_last_ci"]
    assert low <= metrics["auroc_last"] <= high
    for key in ("aupr", "f1_max", "fpr_at_95_tpr", "test_tpr", "test_fpr", "test_precision", "test_f1"):
        assert 0 <= metrics[key] <= 1, key
    assert metrics["threshold_kind"] == "val_fpr" and metrics["threshold_target_fpr"] == 0.01
    assert metrics["n_val"] == 8 and metrics["threshold_val_fpr"] <= 0.01
    for key in ("auroc_last", "auroc_best", "auroc_val_selected", "f1_max"):
        assert metrics["notes"][key], key
    assert (
        "test set" in metrics["notes"]["auroc_best"] and "without test labels" in metrics["notes"]["auroc_val_selected"]
    )
    assert "oracle" in metrics["notes"]["f1_max"]


def test_select_val_keeps_the_val_selected_model(val_run):
    out, metrics = val_run
    from adnkit.detection.detector import Detector

    run = Detector.load(out, device="cpu")
    table = Run(out).read_scores()
    fresh = run.score_files(table["path"].head(4).tolist())
    np.testing.assert_allclose(fresh["score"], table["score"].head(4), rtol=1e-4)
    # scores.csv is the kept (val-selected) model's: its AUROC is the history's AUROC at that evaluation
    from adnkit.evaluation.auroc import auroc

    assert auroc(table["label"], table["score"]) == pytest.approx(metrics["auroc_val_selected"], abs=1e-9)


def test_the_threshold_does_not_move_when_test_labels_change(folder, tmp_path, val_run):
    _, metrics = val_run
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    good = sorted((moved / "test" / "good").iterdir())
    bad = sorted((moved / "test" / "scratch").iterdir())
    for p in good[:3]:
        p.rename(moved / "test" / "scratch" / p.name)
    for p in bad[:3]:
        p.rename(moved / "test" / "good" / p.name)
    again = train(_cfg(moved, select="val"), tmp_path / "run", progress=False)
    assert again["threshold"] == metrics["threshold"]
    assert again["threshold_val_fpr"] == metrics["threshold_val_fpr"]
    assert again["auroc_last"] != metrics["auroc_last"]  # the test labels did change


def test_interval_is_the_stats_interval_of_the_stored_scores(folder, tmp_path):
    metrics = train(_cfg(folder, meta_epochs=1, bootstrap_resamples=200), tmp_path / "r", progress=False)
    table = Run(tmp_path / "r").read_scores()
    assert metrics["auroc_last_ci"] == list(auroc_ci(table["label"], table["score"], n_resamples=200, seed=0))
    assert not math.isnan(metrics["auroc_val_selected"])


def test_without_a_validation_split_the_threshold_falls_back_and_says_so(folder, tmp_path):
    metrics = train(_cfg(folder, meta_epochs=1, val_fraction=0), tmp_path / "r", progress=False)
    assert metrics["threshold_kind"] == "train_quantile" and metrics["threshold_requested"] == "val_fpr"
    assert "no validation images" in metrics["threshold_method"].lower()
    assert math.isnan(metrics["auroc_val_selected"]) and metrics["n_val"] == 0
    assert Run(tmp_path / "r").read_history()["val_loss"].isna().all()


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="select=val .*--val-fraction"):
        preset("ci", select="val", val_fraction=0)
    with pytest.raises(ConfigError, match="select="):
        preset("ci", select="best")
    with pytest.raises(ConfigError, match="target_fpr"):
        preset("ci", target_fpr=1.5)
    with pytest.raises(ConfigError, match="val_fraction"):
        preset("ci", val_fraction=0.7)


def test_resume_keeps_the_val_selected_state(folder, tmp_path, monkeypatch, val_run):

    _, metrics = val_run
    real = steps_module.epoch_cached

    def interrupt_in_third(*args, **kwargs):
        if args[5] == 3:  # meta epoch
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(steps_module, "epoch_cached", interrupt_in_third)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(folder, select="val"), tmp_path / "r", progress=False)
    monkeypatch.setattr(steps_module, "epoch_cached", real)
    resumed = train(_cfg(folder, select="val"), tmp_path / "r", resume=True, progress=False)
    for key in ("auroc_val_selected", "val_selected_epoch", "threshold", "auroc_last"):
        assert resumed[key] == metrics[key], key
    stored = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert stored["val_best"]["meta_epoch"] == metrics["val_selected_epoch"]
    json.dumps(resumed)  # JSON-ready
    assert isinstance(pd.read_csv(tmp_path / "r" / "history.csv"), pd.DataFrame)


def test_score_says_where_the_threshold_comes_from(val_run):
    from adnkit.detection.detector import Detector

    out, metrics = val_run
    line = Detector.load(out, device="cpu").threshold_source()
    assert line.startswith(f"threshold {metrics['threshold']:.6g} (val_fpr: at most 1% of {metrics['n_val']} "
                           "validation images flagged; measured ") and "\n" not in line
    assert len(line) < 100 and metrics["threshold_method"].count(f"{metrics['threshold']:.6g}") >= 1  # the sentence
