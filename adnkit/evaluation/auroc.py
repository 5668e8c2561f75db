"""How well scores separate good from defective images on a test set: AUROC and the numbers beside it.

Conventions used everywhere in adnkit: label 1 = defective (the positive class), label 0 = good; a higher score
means "more anomalous"; an image is called defective when ``score >= threshold`` (sklearn's roc_curve rule).

- `auroc`, `roc_table`: image-level ROC AUC and the curve (scikit-learn);
- `auroc_standard_error`: the spread of one AUROC measurement (Hanley and McNeil, 1982);
- `auroc_ci`: a bootstrap interval of the test AUROC. Good and defective images are resampled separately
  (stratified: every resample keeps the test set's numbers of each), with scipy.stats.bootstrap given the two
  samples, which it resamples independently; the AUROC of a resample is the Mann-Whitney U statistic over
  n_good x n_defective (scipy.stats.mannwhitneyu, equal to roc_auc_score, ties counting one half). Percentile
  interval (BCa is undefined when every resample gives the same AUROC, e.g. a perfectly separated test set).
  It measures the test set's sampling noise only: another training seed moves the AUROC too, which only
  repeated runs show (adnkit.evaluation.verdict);
- `aupr` (average precision), `f1_max` (an oracle: the best F1 over all thresholds, chosen on the test set),
  `fpr_at_95_tpr` (the share of good images flagged when 95% of the defective ones are caught).
`check_labels_and_scores` is the one input check for labels and scores in adnkit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from adnkit.core.errors import AdnkitError

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0


# --- inputs -----------------------------------------------------------------------------------------------
def check_labels_and_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """labels (0 good, 1 defective) and scores as flat numpy arrays; a one-line AdnkitError for bad input."""
    y = np.asarray(labels).reshape(-1)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if y.shape != s.shape:
        raise AdnkitError(f"labels ({y.size}) and scores ({s.size}) differ in length; pass one score per label")
    if y.size == 0:
        raise AdnkitError("no labels or scores given; score at least one good and one defective image")
    if not np.isfinite(s).all():
        bad = int((~np.isfinite(s)).sum())
        raise AdnkitError(f"{bad} score(s) are NaN or infinite; the model diverged or an image failed to score")
    try:
        y = y.astype(int)
    except (TypeError, ValueError):
        raise AdnkitError("labels must be 0 (good) or 1 (defective)") from None
    if not np.isin(y, (0, 1)).all():
        raise AdnkitError(f"labels must be 0 (good) or 1 (defective); got values {sorted(set(y.tolist()))}")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return bool((y == 0).any() and (y == 1).any())


def _one_class_message(y: np.ndarray) -> str:
    which = "good (0)" if (y == 0).all() else "defective (1)"
    return (f"AUROC needs good and defective test images, but all {y.size} labels are {which}; "
            "add test images of the other class")


# --- AUROC and ROC ----------------------------------------------------------------------------------------
def auroc(labels, scores) -> float:
    """Image-level ROC AUC (label 1 = defective, higher score = more anomalous)."""
    y, s = check_labels_and_scores(labels, scores)
    if not _both_classes(y):
        raise AdnkitError(_one_class_message(y))
    return float(roc_auc_score(y, s))


def roc_table(labels, scores) -> pd.DataFrame:
    """The ROC curve as a table with columns fpr, tpr, threshold (sklearn's roc_curve; the first
    threshold is +inf, where nothing is called defective)."""
    y, s = check_labels_and_scores(labels, scores)
    if not _both_classes(y):
        raise AdnkitError(_one_class_message(y))
    fpr, tpr, thr = roc_curve(y, s)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


# --- uncertainty of one AUROC ------------------------------------------------------------------------------
def auroc_standard_error(auc: float, n_defective: int, n_good: int) -> float:
    """Standard error of an AUROC measured on n_defective defective and n_good good test images.

    Hanley & McNeil (1982), Radiology 143:29-36: with Q1 = A / (2 - A) and Q2 = 2 A^2 / (1 + A),
    SE^2 = (A (1 - A) + (n_defective - 1)(Q1 - A^2) + (n_good - 1)(Q2 - A^2)) / (n_defective * n_good).
    It says how far the AUROC measured on one test set of this size may lie from the detector's AUROC on
    all such images (about +-2 SE for a 95% interval, normal approximation)."""
    a = float(auc)
    if not 0.0 <= a <= 1.0:
        raise AdnkitError(f"auc={auc}: an AUROC lies in [0, 1]")
    if int(n_defective) < 1 or int(n_good) < 1:
        raise AdnkitError(f"n_defective={n_defective}, n_good={n_good}: need at least one image of each class")
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_defective - 1) * (q1 - a * a) + (n_good - 1) * (q2 - a * a)) / (n_defective * n_good)
    return float(np.sqrt(max(var, 0.0)))


def _classes(labels, scores, what: str) -> tuple[np.ndarray, np.ndarray]:
    y, s = check_labels_and_scores(labels, scores)
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
