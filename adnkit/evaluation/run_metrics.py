"""The numbers a run reports about its test set, beside its AUROCs: one registry, so that a new per-run metric is
one entry here (its value, the sentence that explains it, and whether the benchmark summarises it over seeds).

Every entry becomes a key of the run's metrics.json (with its sentence under "notes"), a column of a benchmark's
results.csv, and, with `summary=True`, mean and std columns of summary.csv and the report's summary table.
`register_run_metric` adds one from user code (a notebook) without editing adnkit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.auroc import aupr, auroc_ci, check_labels_and_scores, f1_max, fpr_at_95_tpr
from adnkit.evaluation.threshold import rates_at


@dataclass(frozen=True)
class TestScores:
    """What a run's metrics are computed from: the test labels, the scores of the kept model (last or
    val-selected) and of the last one, the stored threshold, and the bootstrap's settings."""

    __test__ = False  # not a pytest test class, whatever its name

    labels: np.ndarray
    scores: np.ndarray
    last_scores: np.ndarray
    threshold: float | None
    resamples: int = 1000
    seed: int = 0

    @property
    def both_classes(self) -> bool:
        y = np.asarray(self.labels)
        return bool((y == 0).any() and (y == 1).any())


@dataclass(frozen=True)
class RunMetric:
    """One per-run number: its metrics.json key, the sentence saying what it is, how it is computed, and whether
    `adnkit.evaluation.summary.summarize` reports its mean and std over seeds."""

    key: str
    note: str
    value: Callable[[TestScores], float | list]
    summary: bool = False


def _needs_both(fn: Callable[[TestScores], float]) -> Callable[[TestScores], float]:
    """NaN for a test set of one class (a folder of good images), instead of an error."""
    return lambda t: fn(t) if t.both_classes else math.nan


def _rate(name: str) -> Callable[[TestScores], float]:
    return lambda t: math.nan if t.threshold is None else float(rates_at(t.labels, t.scores, t.threshold)[name])


def _last_interval(t: TestScores) -> list:
    if not t.both_classes:
        return [math.nan, math.nan]
    return [float(v) for v in auroc_ci(t.labels, t.last_scores, n_resamples=t.resamples, seed=t.seed)]


RUN_METRICS: list[RunMetric] = [
    RunMetric("auroc_last_ci", "95% bootstrap interval of auroc_last (percentile; good and defective test images "
              "resampled separately, fixed seed): test-set sampling noise only, not the spread over training seeds",
              _last_interval),
    RunMetric("aupr", "average precision (area under the precision-recall curve, defective = positive)",
              _needs_both(lambda t: aupr(t.labels, t.scores))),
    RunMetric("f1_max", "oracle: the best F1 over all thresholds, chosen on the test set itself (optimistic)",
              _needs_both(lambda t: f1_max(t.labels, t.scores))),
    RunMetric("fpr_at_95_tpr", "share of good test images called defective at the lowest threshold that catches "
              "95% of the defective ones", _needs_both(lambda t: fpr_at_95_tpr(t.labels, t.scores))),
    RunMetric("test_tpr", "at the stored threshold: share of defective test images called defective (recall)",
              _rate("tpr")),
    RunMetric("test_fpr", "at the stored threshold: share of good test images called defective", _rate("fpr")),
    RunMetric("test_precision", "at the stored threshold: share of the images called defective that are defective",
              _rate("precision")),
    RunMetric("test_f1", "at the stored threshold: harmonic mean of precision and tpr", _rate("f1")),
]
"""Built-in per-run metrics, in the order metrics.json lists them; aupr, f1_max, fpr_at_95_tpr and the test_*
rates describe the kept model, auroc_last_ci the last one."""


def register_run_metric(metric: RunMetric) -> None:
    """Add a per-run metric (computed by every run trained from now on in this process)."""
    if any(m.key == metric.key for m in RUN_METRICS):
        raise AdnkitError(f"run metric {metric.key!r} exists already; give the new one another key")
    RUN_METRICS.append(metric)


def run_metric_values(test: TestScores) -> tuple[dict, dict]:
    """(values, notes) of every registered metric for one run's test scores."""
    check_labels_and_scores(test.labels, test.scores)
    values = {m.key: m.value(test) for m in RUN_METRICS}
    return values, {m.key: m.note for m in RUN_METRICS}


def summarised_metrics() -> list[str]:
    """The registered metrics that the benchmark summarises over seeds."""
    return [m.key for m in RUN_METRICS if m.summary]
