"""Uncertainty and metrics beside AUROC: bootstrap intervals on hand cases and against a direct stratified
numpy resampling, aupr / f1_max / fpr_at_95_tpr by hand, and test_metrics' keys."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from adnkit.core.errors import AdnkitError
from adnkit.evaluation import test_metrics as stats
from adnkit.evaluation.test_metrics import METRIC_NOTES, _auroc_of_samples, aupr, auroc_ci, f1_max, fpr_at_95_tpr

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


def test_test_metrics_keys_and_one_class():
    m = stats.test_metrics(LABELS, SCORES, threshold=0.35)
    assert set(m) == {"auroc", "auroc_ci", "aupr", "f1_max", "fpr_at_95_tpr", "tpr", "fpr", "precision", "f1"}
    assert set(m) == set(METRIC_NOTES) and "oracle" in METRIC_NOTES["f1_max"]
    assert m["auroc"] == pytest.approx(0.75) and m["tpr"] == 1.0 and m["fpr"] == 0.5
    assert m["precision"] == pytest.approx(2 / 3) and m["f1"] == pytest.approx(0.8)
    low, high = m["auroc_ci"]
    assert 0 <= low <= m["auroc"] <= high <= 1
    good_only = stats.test_metrics([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.25)
    assert math.isnan(good_only["auroc"]) and math.isnan(good_only["tpr"])
    assert good_only["fpr"] == pytest.approx(1 / 3)
    no_threshold = stats.test_metrics(LABELS, SCORES, n_resamples=10)
    assert all(math.isnan(no_threshold[k]) for k in ("tpr", "fpr", "precision", "f1"))
