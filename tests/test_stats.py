"""Uncertainty and metrics beside AUROC: bootstrap intervals on hand cases and against a direct stratified
numpy resampling, aupr / f1_max / fpr_at_95_tpr by hand, and the per-run metrics registry."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.auroc import _auroc_of_samples, aupr, auroc, auroc_ci, f1_max, fpr_at_95_tpr
from adnkit.evaluation.run_metrics import RUN_METRICS, RunMetric, TestScores, register_run_metric, run_metric_values

LABELS = [0, 0, 1, 1]
SCORES = [0.1, 0.4, 0.35, 0.8]


def test_resampled_auroc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = rng.integers(0, 5, 60).astype(float)  # many ties
    assert _auroc_of_samples(s[y == 0], s[y == 1]) == pytest.approx(roc_auc_score(y, s))


def test_interval_on_hand_cases():
    # Perfectly separated: every resample has AUROC 1.
    assert auroc_ci([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9]) == (1.0, 1.0)
    # Good (0, 0), defective (1, -1): a stratified resample of the defective pair gives AUROC 0, 1/2 or 1 with
    # chances 1/4, 1/2, 1/4, so the 2.5% and 97.5% percentiles are 0 and 1.
    assert auroc_ci([0, 0, 1, 1], [0.0, 0.0, 1.0, -1.0]) == (0.0, 1.0)
    # One image of a class cannot be resampled into a spread.
    assert all(math.isnan(v) for v in auroc_ci([0, 1, 1], [0.1, 0.5, 0.9]))


def test_interval_matches_direct_stratified_resampling():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    s = rng.normal(size=100) + 0.8 * y
    good, bad = s[y == 0], s[y == 1]
    ref = np.random.default_rng(2)
    # 2000 resamples drawn directly: 60 good from the good, 40 defective from the defective, each with
    # replacement; their AUROC with the statistic checked against sklearn above.
    aucs = _auroc_of_samples(ref.choice(good, (2000, 60)), ref.choice(bad, (2000, 40)))
    low, high = np.percentile(aucs, [2.5, 97.5])
    got = auroc_ci(y, s, n_resamples=2000)
    assert got[0] == pytest.approx(low, abs=0.02) and got[1] == pytest.approx(high, abs=0.02)
    assert got[0] < roc_auc_score(y, s) < got[1]
    assert auroc_ci(y, s) == auroc_ci(y, s)  # fixed seed: the same interval every call
    assert auroc_ci(y, s, confidence=0.5)[1] - auroc_ci(y, s, confidence=0.5)[0] < got[1] - got[0]


def test_aupr_f1_max_fpr95_by_hand():
    # Descending: 0.8 (defective), 0.4 (good), 0.35 (defective), 0.1 (good).
    # Average precision = 1/2 * P@0.8 + 1/2 * P@0.35 = 1/2 * 1 + 1/2 * 2/3.
    assert aupr(LABELS, SCORES) == pytest.approx(5 / 6)
    # F1 at 0.8: P 1, R 1/2 -> 2/3; at 0.35: P 2/3, R 1 -> 0.8 (the best).
    assert f1_max(LABELS, SCORES) == pytest.approx(0.8)
    # 95% TPR needs both defective images: threshold 0.35 also flags the good 0.4 -> FPR 1/2.
    assert fpr_at_95_tpr(LABELS, SCORES) == pytest.approx(0.5)
    assert fpr_at_95_tpr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    with pytest.raises(AdnkitError, match="good and defective"):
        aupr([0, 0], [0.1, 0.2])


def _run_metrics(labels, scores, threshold, resamples=1000):
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    return run_metric_values(TestScores(labels, scores, scores, threshold, resamples, 0))


def test_run_metrics_keys_and_one_class():
    m, notes = _run_metrics(LABELS, SCORES, threshold=0.35)
    assert set(m) == {"auroc_last_ci", "aupr", "f1_max", "fpr_at_95_tpr", "test_tpr", "test_fpr", "test_precision",
                      "test_f1"}
    assert set(m) == set(notes) and "oracle" in notes["f1_max"]
    assert auroc(LABELS, SCORES) == pytest.approx(0.75) and m["test_tpr"] == 1.0 and m["test_fpr"] == 0.5
    assert m["test_precision"] == pytest.approx(2 / 3) and m["test_f1"] == pytest.approx(0.8)
    low, high = m["auroc_last_ci"]
    assert 0 <= low <= auroc(LABELS, SCORES) <= high <= 1
    good_only, _ = _run_metrics([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.25)
    assert math.isnan(good_only["aupr"]) and math.isnan(good_only["test_tpr"])
    assert good_only["test_fpr"] == pytest.approx(1 / 3)
    no_threshold, _ = _run_metrics(LABELS, SCORES, None, resamples=10)
    assert all(math.isnan(no_threshold[k]) for k in ("test_tpr", "test_fpr", "test_precision", "test_f1"))


def test_a_registered_run_metric_is_computed_and_summarised(monkeypatch):
    monkeypatch.setattr("adnkit.evaluation.run_metrics.RUN_METRICS", list(RUN_METRICS))  # leave the registry as it was
    register_run_metric(RunMetric("test_tnr", "at the stored threshold: share of good test images called good",
                                  lambda t: 1 - float(np.mean(t.scores[t.labels == 0] >= t.threshold)), summary=True))
    m, notes = _run_metrics(LABELS, SCORES, threshold=0.35)
    assert m["test_tnr"] == pytest.approx(1 - m["test_fpr"]) and "good" in notes["test_tnr"]
    with pytest.raises(AdnkitError, match="exists already"):
        register_run_metric(RunMetric("aupr", "again", lambda t: 0.0))
    from adnkit.evaluation.summary import summarize

    rows = [dict(dataset="d", category="c", attention=a, seed=s, auroc_last=0.8, auroc_best=0.8, test_tnr=v)
            for a, s, v in (("none", 0, 0.9), ("none", 1, 0.7), ("se", 0, 0.5), ("se", 1, 0.5))]
    summary = summarize(pd.DataFrame(rows))
    none = summary[(summary.category == "c") & (summary.attention == "none")].iloc[0]
    assert none.test_tnr_mean == pytest.approx(0.8) and none.test_tnr_std == pytest.approx(np.std([0.9, 0.7], ddof=1))
