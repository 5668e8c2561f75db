"""Is variant A better than baseline B? One answer for bench, study, the report, the notebooks and the docs.

A pair is one (dataset, category, seed) that both the variant and the baseline ran: same test set, same seed,
so the gain (variant AUROC - baseline AUROC) removes what the two runs share. `gain_verdict` turns a set of
pairs into one answer:

- units: pairs of the same category share a test set, so its seeds are not independent evidence about "this
  kind of data". The seeds of each category are averaged first and the categories are the units; with one
  category, its seeds are the units and the answer speaks of that category's test set alone;
- the mean gain (the mean over units: every category weighs the same, as in the papers' dataset means) and its
  95% Student t-interval over the units (scipy.stats.ttest_1samp's confidence_interval, df = units - 1), from
  MIN_UNITS units on. Below that there is the mean gain and "too few to tell", never an interval: with two
  or three units a percentile bootstrap can only return [min, max] of the values (so any set of same-sign
  gains reads as real), and a t-interval with one degree of freedom is twelve standard errors wide;
- the verdict: "a gain" when the interval lies above 0, "a loss" when below, "no difference shown" when it
  holds 0;
- win / tie / loss counts over the pairs, a tie being |gain| < TIE_TOLERANCE (1e-6, i.e. 0.0001 AUROC points:
  below the resolution of any test set under 1000 x 1000 images, so it only absorbs floating-point noise).

Why this method: it is calibrated for the question asked. tests/test_verdicts.py simulates benches with
category effects, seed noise and a known true gain, and docs/benchmarks.md gives the measured false-positive
and coverage rates.

`paired_gains` applies it per dataset and to the pairs of all datasets together (dataset "all datasets",
whose units are the (dataset, category) pairs). A variant is defined by the columns `by` (default just
attention; bench axes such as attention_site or train_attention can be added); the baseline is a named row
set, by default attention == "none".
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from scipy import stats as sps

from adnkit.core.errors import AdnkitError

PAIR_KEY = ["dataset", "category", "seed"]
METRIC_LABELS = {"auroc_last": "last", "auroc_best": "best", "auroc_val_selected": "val-selected"}
"""The metrics compared, and their names in sentences."""
TIE_TOLERANCE = 1e-6
MIN_UNITS = 3
"""Units (categories, or the seeds of a single category) an interval needs; below this: "too few to tell"."""
CONFIDENCE = 0.95
ALL_DATASETS = "all datasets"
VERDICTS = ("a gain", "a loss", "no difference shown", "too few to tell", "no pairs")

PAIRED_COLUMNS = ["dataset", "variant", "baseline", "metric", "metric_label", "n_pairs", "n_units", "unit",
                  "gain_mean", "gain_ci_low", "gain_ci_high", "wins", "ties", "losses", "verdict",
                  "distinguishable", "sentence"]
"""Columns of `paired_gains` (the `by` columns follow "variant")."""
PAIR_COLUMNS = ["dataset", "category", "seed", "variant", "baseline", "metric", "value", "baseline_value", "gain"]
"""Columns of `pair_table` (the `by` columns follow "variant")."""


# --- the pairs --------------------------------------------------------------------------------------------
def _baseline_spec(baseline, by: list[str]) -> dict:
    spec = dict(baseline) if isinstance(baseline, dict) else {by[0]: baseline}
    unknown = [c for c in spec if c not in by]
    if unknown:
        raise AdnkitError(f"baseline names column(s) {unknown} that are not variant columns {by}; "
                          f"use e.g. baseline={{'{by[0]}': 'none'}}")
    return spec


def _label(values: dict, by: list[str]) -> str:
    """"se" for by=[attention]; "se (train_attention=True)" with more columns (NaN values left out)."""
    first = str(values[by[0]]) if by[0] in values else ""
    rest = [f"{c}={values[c]}" for c in by[1:] if c in values and not pd.isna(values[c])]
    return f"{first} ({', '.join(rest)})" if rest else first


def _prepare(results: pd.DataFrame, by: list[str], metrics: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    if results is None or len(results) == 0:
        return pd.DataFrame(columns=PAIR_KEY + by), []
    missing = sorted(set(PAIR_KEY + by) - set(results.columns))
    if missing:
        raise AdnkitError(f"results table lacks column(s) {missing}; pass bench's results.csv")
    if metrics is None:
        metrics = [m for m in METRIC_LABELS if m in results.columns and results[m].notna().any()]
    else:
        absent = [m for m in metrics if m not in results.columns]
        if absent:
            raise AdnkitError(f"results table lacks metric column(s) {absent}; "
                              f"use some of {[m for m in METRIC_LABELS if m in results.columns]}")
    runs = results
    if "status" in runs.columns:
        runs = runs[runs["status"].fillna("ok") == "ok"]
    runs = runs.astype({"dataset": str, "category": str}).assign(seed=runs["seed"].astype(int))
    return runs, metrics


def pair_table(results: pd.DataFrame, *, baseline="none", by=("attention",), metrics=None) -> pd.DataFrame:
    """Every matched pair: one row per (dataset, category, seed, variant, metric) with the variant's value, the
    baseline's and the gain. Runs repeated in the same cell are averaged; rows whose status is not "ok", and
    metric values that are NaN, are left out. Columns: PAIR_COLUMNS with the `by` columns after "variant"."""
    by = list(by)
    runs, metrics = _prepare(results, by, metrics)
    columns = PAIR_COLUMNS[:4] + by + PAIR_COLUMNS[4:]
    if runs.empty or not metrics:
        return pd.DataFrame(columns=columns)
    spec = _baseline_spec(baseline, by)
    is_base = np.logical_and.reduce([runs[c].astype(str) == str(v) for c, v in spec.items()])
    base_label = _label(spec, list(spec))
    rows = []
    for metric in metrics:
        base = (runs[is_base].dropna(subset=[metric]).groupby(PAIR_KEY, as_index=False)[metric].mean()
                .rename(columns={metric: "baseline_value"}))
        var = (runs[~is_base].dropna(subset=[metric]).groupby(PAIR_KEY + by, as_index=False, dropna=False,
                                                              sort=False)[metric].mean()
               .rename(columns={metric: "value"}))
        paired = var.merge(base, on=PAIR_KEY)
        if paired.empty:
            continue
        paired["gain"] = paired["value"] - paired["baseline_value"]
        paired["variant"] = [
            _label(dict(zip(by, vals, strict=True)), by) for vals in paired[by].itertuples(index=False)
        ]
        rows.append(paired.assign(baseline=base_label, metric=metric))
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


# --- the one answer ---------------------------------------------------------------------------------------
def gain_verdict(gains, categories=None, *, confidence: float = CONFIDENCE,
                 tie_tolerance: float = TIE_TOLERANCE) -> dict:
    """Is the mean of these paired gains above or below zero? (see the module docstring)

    gains       one gain per pair (variant minus baseline; NaN pairs are dropped);
    categories  the category (any hashable) of each pair, or None when all pairs share one category: then the
                pairs (seeds) are the units, else the per-category mean gains are.
    Returns n_pairs, n_units, unit ("category" or "seed"), gain_mean (mean over units), gain_ci_low,
    gain_ci_high (NaN below MIN_UNITS units), wins, ties, losses (over pairs), verdict (one of VERDICTS) and
    distinguishable (the verdict is a gain or a loss)."""
    g = np.asarray(gains, dtype=float).reshape(-1)
    cats = np.zeros(g.size, dtype=int) if categories is None else np.asarray(list(categories)).astype(str)
    if cats.size != g.size:
        raise AdnkitError(f"{g.size} gains but {cats.size} categories; give one category per gain")
    keep = np.isfinite(g)
    g, cats = np.where(np.abs(g[keep]) < tie_tolerance, 0.0, g[keep]), cats[keep]
    _, which = np.unique(cats, return_inverse=True)
    several = which.size > 0 and which.max() > 0
    units = np.bincount(which, g) / np.bincount(which) if several else g
    nan = float("nan")
    out = dict(n_pairs=int(g.size), n_units=int(units.size), unit="category" if several else "seed",
               gain_mean=float(units.mean()) if units.size else nan, gain_ci_low=nan, gain_ci_high=nan,
               wins=int((g > 0).sum()), ties=int((g == 0).sum()), losses=int((g < 0).sum()))
    if units.size == 0:
        return dict(out, verdict="no pairs", distinguishable=False)
    if units.size < MIN_UNITS:
        return dict(out, verdict="too few to tell", distinguishable=False)
    half = _t_quantile(confidence, units.size - 1) * units.std(ddof=1) / np.sqrt(units.size)  # 0: all alike
    low, high = float(units.mean() - half), float(units.mean() + half)
    verdict = "a gain" if low > 0 else "a loss" if high < 0 else "no difference shown"
    return dict(out, gain_ci_low=low, gain_ci_high=high, verdict=verdict,
                distinguishable=verdict in ("a gain", "a loss"))


@functools.lru_cache(maxsize=64)
def _t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student t critical value (scipy.stats.t), cached: simulations call gain_verdict often."""
    return float(sps.t.ppf(0.5 + confidence / 2, df))


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def evidence(stats: dict) -> str:
    """What the answer rests on: "5 categories (15 pairs)", "3 seeds of one category", "1 pair"."""
    n, pairs = stats["n_units"], stats["n_pairs"]
    if stats["unit"] == "category":
        return f"{_count(n, 'category', 'categories')} ({_count(pairs, 'pair')})"
    return f"{_count(n, 'seed')} of one category" if n > 1 else _count(pairs, "pair")


def gain_sentence(variant: str, baseline: str, metric_label: str, stats: dict, *, dataset: str | None = None,
                  confidence: float = CONFIDENCE) -> str:
    """One sentence in points (100 x AUROC), e.g. "se vs none on mvtec (last): +1.20 points, 95% interval -0.80
    to +3.10 over 5 categories (15 pairs), 9 wins / 6 losses: no difference shown." """
    where = f" on {dataset}" if dataset else ""
    head = f"{variant} vs {baseline}{where} ({metric_label}): "
    if stats["n_pairs"] == 0:
        return head + "no matched pairs, so no comparison."
    text = head + f"{100 * stats['gain_mean']:+.2f} points"
    if np.isfinite(stats["gain_ci_low"]):
        text += (f", {100 * confidence:.3g}% interval {100 * stats['gain_ci_low']:+.2f} to "
                 f"{100 * stats['gain_ci_high']:+.2f}")
    text += f" over {evidence(stats)}, {_count(stats['wins'], 'win')}"
    if stats["ties"]:
        text += f" / {_count(stats['ties'], 'tie')}"
    text += f" / {_count(stats['losses'], 'loss', 'losses')}: {stats['verdict']}"
    if stats["verdict"] == "too few to tell":
        text += (f" (an interval needs {MIN_UNITS} categories, or {MIN_UNITS} seeds of one category)")
    return text + "."


# --- the table --------------------------------------------------------------------------------------------
def paired_gains(results: pd.DataFrame, *, baseline="none", by=("attention",), metrics=None,
                 confidence: float = CONFIDENCE, tie_tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
    """Paired gains of every variant over the baseline: one row per dataset x variant x metric, then the same
    over all datasets (dataset "all datasets"). See the module docstring.

    results   bench's results table: one row per run with dataset, category, seed, the `by` columns and the
              metric columns (auroc_last, auroc_best, auroc_val_selected: those present are used unless
              `metrics` names them); an optional status column (rows not "ok" are left out).
    baseline  the baseline row set: a value of by[0] ("none") or a dict {column: value} over `by` columns.
    by        the columns that define a variant (default ["attention"]).
    Columns: PAIRED_COLUMNS with the `by` columns after "variant"; gains are AUROC differences (fractions), the
    sentence speaks in points (100 x AUROC). Rows come in the order datasets, variants and metrics first appear.
    """
    by = list(by)
    pairs = pair_table(results, baseline=baseline, by=by, metrics=metrics)
    columns = PAIRED_COLUMNS[:2] + by + PAIRED_COLUMNS[2:]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    datasets = list(dict.fromkeys(pairs["dataset"]))
    variants = list(dict.fromkeys(pairs["variant"]))
    metric_order = list(dict.fromkeys(pairs["metric"]))
    rows = []
    for dataset in [*datasets, ALL_DATASETS]:
        scope = pairs if dataset == ALL_DATASETS else pairs[pairs["dataset"] == dataset]
        for variant in variants:
            for metric in metric_order:
                cell = scope[(scope["variant"] == variant) & (scope["metric"] == metric)]
                if cell.empty:
                    continue
                units = cell["category"] if dataset != ALL_DATASETS else cell["dataset"] + "/" + cell["category"]
                stats = gain_verdict(cell["gain"], units, confidence=confidence, tie_tolerance=tie_tolerance)
                first = cell.iloc[0]
                label = METRIC_LABELS.get(metric, metric)
                rows.append(dict(dataset=dataset, variant=variant, **{c: first[c] for c in by},
                                 baseline=first["baseline"], metric=metric, metric_label=label, **stats,
                                 sentence=gain_sentence(variant, first["baseline"], label, stats, dataset=dataset,
                                                        confidence=confidence)))
    return pd.DataFrame(rows, columns=columns)


# --- what a person reads -----------------------------------------------------------------------------------
NO_COMPARISON = "No comparison: it needs attention 'none' and another variant on the same category and seed."
ONE_SEED = "One seed per variant: no comparison; `--seeds 3` or more for one."


def verdict_lines(paired: pd.DataFrame, metric: str = "auroc_last") -> list[str]:
    """The verdicts as people read them (bench, demo and the report): one line per variant and dataset for
    `metric` (plus the all-datasets line when there are several datasets), or one line when there is nothing
    to tell (one seed per variant; too few categories and seeds)."""
    if paired is None or paired.empty:
        return [NO_COMPARISON]
    rows = paired[paired["metric"] == metric] if (paired["metric"] == metric).any() else paired
    several = rows["dataset"].nunique() > 2  # each dataset's rows plus the all-datasets rows
    if not several:
        rows = rows[rows["dataset"] != ALL_DATASETS]
    if (rows["verdict"].isin(["too few to tell", "no pairs"])).all():
        one_seed = ((rows["unit"] == "category") & (rows["n_pairs"] == rows["n_units"])) | (rows["n_pairs"] == 1)
        if one_seed.all():
            return [ONE_SEED]
        most = rows.loc[rows["n_units"].idxmax()]
        return [f"Too few to tell: an interval needs {MIN_UNITS} categories, or {MIN_UNITS} seeds of one category; "
                f"the most here is {evidence(most)} (--seeds 3, or more categories)."]
    return list(rows["sentence"])
