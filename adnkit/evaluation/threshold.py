"""Decision thresholds, and what a threshold does on the test set.

One decision rule everywhere in adnkit: an image is called defective when ``score >= threshold``.

Three ways to choose the threshold (Config.threshold_method):
  val_fpr         (default) from the validation split, good training images that were never trained on: the
                  threshold at which at most `target_fpr` of them are called defective. Needs no defective
                  images and no test labels, so it can be set before any defect has been seen, as DifferNet's
                  author advises; moving test images between good and defect folders cannot change it.
  youden          maximises TPR - FPR (Youden's J) on the test set's own labels: chosen on the test set, so
                  the accuracy it shows is optimistic.
  train_quantile  a quantile of the training images' scores. Needs no labels either, but the flow was fitted
                  to exactly these images, so their scores sit low and the threshold tends to flag too many
                  good images; val_fpr falls back to it when there is no validation split (val_fraction 0).

`choose_threshold` returns a `Threshold`: the value, the method actually used, one or two sentences saying how
it was chosen (and any fallback or caveat), and the validation FPR it was set for. A Threshold is the one owner
of how a threshold is stored (`to_record` / `from_record`: the keys of metrics.json and of an ONNX export's
metadata) and told (`source_line`, the one line `adnkit score` prints). `decisions` is the decision rule; `rates_at`
gives the test set's TPR, FPR, precision and F1 at a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, roc_curve

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.auroc import check_labels_and_scores

THRESHOLD_METHODS = ("val_fpr", "youden", "train_quantile")
DEFAULT_TARGET_FPR = 0.01
DEFAULT_QUANTILE = 0.99


@dataclass(frozen=True)
class Threshold:
    """A decision threshold and where it came from (``score >= value`` is called defective)."""

    value: float
    method: str
    """The method actually used: "val_fpr", "youden" or "train_quantile"."""
    requested: str
    """The method asked for; differs from `method` after a fallback."""
    text: str
    """How it was chosen, in words (one or two sentences), for metrics.json and `adnkit score`."""
    target_fpr: float | None = None
    """val_fpr: the validation false-positive rate it was set for; None otherwise."""
    val_fpr: float | None = None
    """The share of validation images at or above it (whenever validation scores were given); None without."""
    n_val: int = 0
    """Validation images it was measured on (0 without a validation split)."""

    def to_record(self) -> dict:
        """The keys under which a run stores its threshold (metrics.json, an ONNX export's metadata): threshold,
        threshold_method (the sentence), threshold_kind (the method used), threshold_requested,
        threshold_target_fpr and threshold_val_fpr (NaN where they do not apply), n_val."""
        return {"threshold": float(self.value), "threshold_method": self.text, "threshold_kind": self.method,
                "threshold_requested": self.requested, "threshold_target_fpr": _float_or_nan(self.target_fpr),
                "threshold_val_fpr": _float_or_nan(self.val_fpr), "n_val": int(self.n_val)}

    @classmethod
    def from_record(cls, record: Mapping) -> Threshold:
        """A Threshold from `to_record`'s keys; older runs that stored only threshold and threshold_method (the
        sentence) read with the method unknown ("")."""
        value = float(record["threshold"])
        kind = str(record.get("threshold_kind") or "")
        return cls(value, kind, str(record.get("threshold_requested") or kind), str(record.get("threshold_method", "")),
                   target_fpr=_none_if_nan(record.get("threshold_target_fpr")),
                   val_fpr=_none_if_nan(record.get("threshold_val_fpr")), n_val=int(record.get("n_val") or 0))

    def source_line(self) -> str:
        """One short line for people (`adnkit score`): the value, the method and, with a validation split, the
        share of its images the threshold flags, e.g. "threshold 0.123 (val_fpr: at most 1% of 47 validation
        images flagged; measured 0.0%)". The whole sentence is `text` (metrics.json's threshold_method)."""
        if self.method == "val_fpr" and self.target_fpr is not None:
            how = f"val_fpr: at most {_percent(self.target_fpr)} of {self.n_val} validation images flagged"
        else:
            how = _SHORT_SOURCES.get(self.method) or self.text.split(". ")[0].rstrip(".")
            if self.requested and self.requested != self.method:
                how += f", as {self.requested} could not be used"
        if self.val_fpr is not None:
            how += f"; measured {_percent(self.val_fpr)}" if self.method == "val_fpr" else \
                f"; flags {_percent(self.val_fpr)} of {self.n_val} validation images"
        return f"threshold {self.value:.6g} ({how})"


_SHORT_SOURCES = {
    "youden": "youden: chosen on the test set's labels, so its accuracy there is optimistic",
    "train_quantile": "train_quantile: a high quantile of the training images' scores",
    "given": "given by hand",
}


def _float_or_nan(value) -> float:
    return math.nan if value is None else float(value)


def _none_if_nan(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def decisions(scores, threshold: float) -> np.ndarray:
    """The one decision rule of adnkit: "anomalous" where score >= threshold, else "good" (array of str)."""
    return np.where(np.asarray(scores, dtype=float) >= threshold, "anomalous", "good")


# --- inputs -----------------------------------------------------------------------------------------------
def _scores(values, what: str) -> np.ndarray:
    s = np.asarray(values, dtype=float).reshape(-1)
    if s.size == 0:
        raise AdnkitError(f"{what} are empty; score at least one image")
    if not np.isfinite(s).all():
        raise AdnkitError(f"{int((~np.isfinite(s)).sum())} of the {what} are NaN or infinite; "
                          "the model diverged or an image failed to score")
    return s


def _percent(rate: float) -> str:
    return f"{100 * rate:.3g}%"


# --- the three methods ------------------------------------------------------------------------------------
def val_fpr_threshold(val_scores, target_fpr: float = DEFAULT_TARGET_FPR) -> Threshold:
    """The lowest threshold at which at most `target_fpr` of the validation images are called defective.

    With n validation scores, k = floor(target_fpr * n) of them may lie at or above the threshold. The
    threshold is the smallest validation score v with #{scores >= v} <= k; when there is none (k = 0, or ties
    at the top), it is the next float above the highest score, so that no validation image is flagged.
    Example: scores 1..200 and target_fpr 0.01 give k = 2 and threshold 199 (199 and 200 are flagged).

    The sentence adds a note when n < 1 / target_fpr: the smallest non-zero FPR that n images can show is
    1 / n, so the target cannot be measured on so few and the test FPR may differ.
    """
    if not 0 < target_fpr < 1:
        raise AdnkitError(f"target_fpr={target_fpr}: must lie in (0, 1); use --target-fpr 0.01")
    v = np.sort(_scores(val_scores, "validation scores"))[::-1]  # highest first
    n = v.size
    k = math.floor(target_fpr * n + 1e-9)  # 0.01 * 300 is 3.0000000000000004 in floats, and must give 3
    # at_or_above[i]: how many scores are >= v[i] (ties included), for the sorted scores.
    at_or_above = n - np.searchsorted(v[::-1], v, side="left")
    allowed = np.flatnonzero(at_or_above <= k)
    value = float(v[allowed[-1]]) if allowed.size else float(np.nextafter(v[0], np.inf))
    flagged = int(np.sum(v >= value))
    val_fpr = flagged / n
    where = "" if allowed.size else " (just above the highest validation score)"
    text = (f"Threshold {value:.6g}{where} calls at most {_percent(target_fpr)} of the {n} validation images (good "
            f"training images never trained on) defective: {flagged} of them ({_percent(val_fpr)}) score at or "
            "above it. It needs no defective images and no test labels.")
    if n < 1 / target_fpr:
        text += (f" Note: {n} validation images are too few for a {_percent(target_fpr)} false-positive rate to "
                 f"mean much (the smallest non-zero rate {n} images can show is 1/{n} = {_percent(1 / n)}), so the "
                 "rate on new images may differ; hold out more images (--val-fraction) for a steadier threshold.")
    return Threshold(value, "val_fpr", "val_fpr", text, target_fpr=float(target_fpr), val_fpr=val_fpr, n_val=n)


def train_quantile_threshold(train_scores, quantile: float = DEFAULT_QUANTILE) -> Threshold:
    """The `quantile` of the training images' scores (numpy's linear interpolation)."""
    if not 0 < quantile < 1:
        raise AdnkitError(f"quantile={quantile}: must lie in (0, 1), e.g. 0.99")
    t = _scores(train_scores, "training scores")
    value = float(np.quantile(t, quantile))
    text = (f"Threshold {value:.6g} is the {quantile:.4g} quantile of {t.size} training-image scores, so it needs "
            "no defective images; the flow was fitted to these images, so their scores sit low and the threshold "
            "may call too many good images defective.")
    return Threshold(value, "train_quantile", "train_quantile", text)


def youden_threshold(labels, scores) -> Threshold:
    """The test-set threshold maximising TPR - FPR (sklearn's roc_curve); needs good and defective labels."""
    y, s = check_labels_and_scores(labels, scores)
    if not ((y == 0).any() and (y == 1).any()):
        raise AdnkitError("youden needs good and defective test images; use --threshold-method val_fpr")
    fpr, tpr, thr = roc_curve(y, s)
    j = tpr - fpr
    best = int(np.argmax(j))
    value = float(thr[best])
    if not np.isfinite(value):  # J is never positive: nothing separates; call only the top one defective
        value = float(s.max())
    below = s[s < value]
    if below.size:
        # Midway to the next lower score: the same decisions on the test set, but no test image sits exactly at
        # the threshold, where its decision would hinge on the last bits that another runtime
        # (onnxruntime) or machine computes differently.
        value = float((value + below.max()) / 2)
    text = (f"Threshold {value:.6g} maximises TPR - FPR (Youden's J = {j[best]:.3f}) on the test set itself, "
            "so it was chosen on the test set and its accuracy is optimistic.")
    return Threshold(value, "youden", "youden", text)


# --- one entry point with fallbacks -----------------------------------------------------------------------
def choose_threshold(method: str = "val_fpr", *, val_scores=None, train_scores=None, test_labels=None,
                     test_scores=None, target_fpr: float = DEFAULT_TARGET_FPR,
                     quantile: float = DEFAULT_QUANTILE) -> Threshold:
    """The threshold `method` gives, with fallbacks said in its text.

    val_fpr needs `val_scores` (the validation split's scores); with none (None or empty: val_fraction 0) it
    falls back to train_quantile.
    youden needs `test_labels` and `test_scores` holding both classes; else it falls back to train_quantile.
    train_quantile needs `train_scores`. When `val_scores` are given, the result's `val_fpr` and `n_val`
    record the validation FPR at the chosen threshold, whichever method chose it.
    """
    if method not in THRESHOLD_METHODS:
        raise AdnkitError(f"threshold method {method!r} is unknown; use one of: {', '.join(THRESHOLD_METHODS)}")
    has_val = val_scores is not None and np.asarray(val_scores).size > 0
    if method == "val_fpr" and has_val:
        return val_fpr_threshold(val_scores, target_fpr)
    if method == "youden" and test_labels is not None and test_scores is not None:
        y, _ = check_labels_and_scores(test_labels, test_scores)
        if (y == 0).any() and (y == 1).any():
            return _with_val(youden_threshold(test_labels, test_scores), val_scores if has_val else None)
    # Fallback (or the request itself): train_quantile.
    why = {"val_fpr": ("There are no validation images (val_fraction 0, or none were scored), so val_fpr "
                       "cannot be used"),
           "youden": "The test labels hold only one class (or none were given), so Youden's J cannot be computed"}
    if train_scores is None or np.asarray(train_scores).size == 0:
        if method == "train_quantile":
            raise AdnkitError("train_quantile needs the training images' scores; pass train_scores")
        fix = "--val-fraction 0.1" if method == "val_fpr" else "--threshold-method val_fpr"
        raise AdnkitError(f"{why[method]}, and no training scores were given for the train_quantile fallback; "
                          f"pass train_scores or use {fix}")
    chosen = train_quantile_threshold(train_scores, quantile)
    if method != "train_quantile":
        text = f"{why[method]}; instead, " + chosen.text[0].lower() + chosen.text[1:]
        chosen = Threshold(chosen.value, "train_quantile", method, text)
    return _with_val(chosen, val_scores if has_val else None)


def _with_val(t: Threshold, val_scores) -> Threshold:
    """`t` with the validation FPR at its value, when there are validation scores."""
    if val_scores is None:
        return t
    v = _scores(val_scores, "validation scores")
    return Threshold(t.value, t.method, t.requested, t.text, t.target_fpr, float(np.mean(v >= t.value)), v.size)


# --- what a threshold does on the test set ------------------------------------------------------------------
def rates_at(labels, scores, threshold: float) -> dict:
    """The test set's confusion counts and rates when ``score >= threshold`` is called defective.

    Keys tp, fp, tn, fn, tpr (recall), fpr, precision, f1, accuracy. A rate whose denominator is empty is NaN
    (e.g. precision when nothing is called defective, tpr without defective images).
    """
    y, s = check_labels_and_scores(labels, scores)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = (int(c) for c in confusion_matrix(y, pred, labels=[0, 1]).ravel())

    def ratio(a: int, b: int) -> float:
        return a / b if b else float("nan")

    return dict(tp=tp, fp=fp, tn=tn, fn=fn, tpr=ratio(tp, tp + fn), fpr=ratio(fp, fp + tn),
                precision=ratio(tp, tp + fp), f1=ratio(2 * tp, 2 * tp + fp + fn), accuracy=(tp + tn) / y.size)
