"""How far a run's test numbers could move by chance, and the metrics beside AUROC.

- `auroc_ci`: a bootstrap interval of the test AUROC. Good and defective images are resampled separately
  (stratified: every resample keeps the test set's numbers of each), with scipy.stats.bootstrap given the two
  samples (good scores, defective scores), which it resamples independently; the AUROC of a resample is the
  Mann-Whitney U statistic over n_good x n_defective (scipy.stats.mannwhitneyu, equal to sklearn's
  roc_auc_score, ties counting one half). Percentile interval (not BCa: BCa is undefined when every resample
  gives the same AUROC, e.g. a perfectly separated test set, where the percentile interval is [1, 1]).
  Fixed seed, 1000 resamples by default. It measures the test set's sampling noise only: a different training
  seed moves the AUROC as well, which only repeated runs show (adnkit.evaluation.verdict).
- `aupr` (average precision), `f1_max` (an oracle: the best F1 over all thresholds, chosen on the test set),
  `fpr_at_95_tpr` (the share of good images flagged when 95% of the defective ones are caught).
- `test_metrics`: all of these and the rates at a given threshold, in one dict for metrics.json.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.summary import _as_arrays, auroc
from adnkit.evaluation.threshold import rates_at

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0

METRIC_NOTES = {
    "auroc": "image-level ROC AUC on the test set",
    "auroc_ci": "95% bootstrap interval of auroc (percentile; good and defective test images resampled "
                "separately, fixed seed): test-set sampling noise only, not the spread over training seeds",
    "aupr": "average precision (area under the precision-recall curve, defective = positive)",
    "f1_max": "oracle: the best F1 over all thresholds, chosen on the test set itself (optimistic)",
    "fpr_at_95_tpr": "share of good test images called defective at the lowest threshold that catches 95% of "
                     "the defective ones",
    "tpr": "at the stored threshold: share of defective test images called defective (recall)",
    "fpr": "at the stored threshold: share of good test images called defective",
    "precision": "at the stored threshold: share of the images called defective that are defective",
    "f1": "at the stored threshold: harmonic mean of precision and tpr",
}
"""What each key of `test_metrics` means, in words (for metrics.json and the report)."""


def _classes(labels, scores, what: str) -> tuple[np.ndarray, np.ndarray]:
    y, s = _as_arrays(labels, scores)
    if not ((y == 0).any() and (y == 1).any()):
        which = "good (0)" if (y == 0).all() else "defective (1)"
        raise AdnkitError(f"{what} needs good and defective test images, but all {y.size} labels are {which}; "
                          "add test images of the other class")
    return y, s


def _auroc_of_samples(good: np.ndarray, bad: np.ndarray, axis: int = -1) -> np.ndarray:
    """AUROC of defective vs good scores along `axis`: U / (n_bad * n_good) (vectorised over resamples)."""
    u = sps.mannwhitneyu(bad, good, axis=axis, method="asymptotic").statistic
    return u / (bad.shape[axis] * good.shape[axis])


def auroc_ci(labels, scores, *, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
             seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """(low, high): the stratified percentile bootstrap interval of the AUROC (see the module docstring).

    NaN, NaN when either class has a single image (one value cannot be resampled into a spread).
    """
    if n_resamples < 1:
        raise AdnkitError(f"n_resamples={n_resamples}: must be at least 1, e.g. 1000")
    if not 0 < confidence < 1:
        raise AdnkitError(f"confidence={confidence}: must lie in (0, 1), e.g. 0.95")
    y, s = _classes(labels, scores, "an AUROC interval")
    good, bad = s[y == 0], s[y == 1]
    if good.size < 2 or bad.size < 2:
        return float("nan"), float("nan")
    res = sps.bootstrap((good, bad), _auroc_of_samples, n_resamples=n_resamples, vectorized=True, paired=False,
                        confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def aupr(labels, scores) -> float:
    """Average precision (sklearn's average_precision_score), defective = positive class."""
    y, s = _classes(labels, scores, "aupr")
    return float(average_precision_score(y, s))


def f1_max(labels, scores) -> float:
    """Oracle number: the best F1 over every threshold of the precision-recall curve, chosen on the test set
    itself, so it is optimistic (no threshold set without test labels can be expected to reach it)."""
    y, s = _classes(labels, scores, "f1_max")
    precision, recall, _ = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision * recall / (precision + recall)
    return float(np.nanmax(f1))


def fpr_at_95_tpr(labels, scores, tpr_level: float = 0.95) -> float:
    """The FPR at the first point of the ROC curve (sklearn's roc_curve) whose TPR reaches `tpr_level`."""
    y, s = _classes(labels, scores, "fpr_at_95_tpr")
    fpr, tpr, _ = roc_curve(y, s)
    return float(fpr[np.argmax(tpr >= tpr_level - 1e-12)])


def test_metrics(labels, scores, threshold: float | None = None, *, n_resamples: int = DEFAULT_RESAMPLES,
                 confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> dict:
    """The test-set numbers of one run: auroc, auroc_ci (low, high), aupr, f1_max, fpr_at_95_tpr, and at
    `threshold` (``score >= threshold`` is defective) tpr, fpr, precision, f1. METRIC_NOTES says what each is.

    A test set with one class only (a folder of good images) gives NaN for everything that needs both classes
    instead of failing; the rates at the threshold are still given (fpr, with tpr NaN). Without a threshold the
    four rates are NaN.
    """
    y, s = _as_arrays(labels, scores)
    nan = float("nan")
    out = dict(auroc=nan, auroc_ci=(nan, nan), aupr=nan, f1_max=nan, fpr_at_95_tpr=nan)
    if (y == 0).any() and (y == 1).any():
        out.update(auroc=auroc(y, s), auroc_ci=auroc_ci(y, s, n_resamples=n_resamples, confidence=confidence,
                                                        seed=seed),
                   aupr=aupr(y, s), f1_max=f1_max(y, s), fpr_at_95_tpr=fpr_at_95_tpr(y, s))
    rates = rates_at(y, s, threshold) if threshold is not None else {}
    out.update({k: float(rates.get(k, nan)) for k in ("tpr", "fpr", "precision", "f1")})
    return out


test_metrics.__test__ = False  # a library function whose name starts with "test": not for pytest to collect
