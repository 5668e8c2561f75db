"""Is a variant's gain over the baseline real? Paired comparisons over a benchmark's runs.

A pair is one (dataset, category, seed) that both the variant and the baseline ran: same test set, same seed,
so the gain (variant AUROC - baseline AUROC) removes what the two runs share. For every variant, dataset and
metric (auroc_last, auroc_best and auroc_val_selected, those the results hold), `paired_gains` gives:

- the mean gain and its 95% interval, bootstrapped over the pairs (scipy.stats.bootstrap, percentile method,
  fixed seed, 1000 resamples by default; NaN with fewer than 2 pairs). The pairs are treated as exchangeable,
  although pairs of the same category share a test set: with few categories the interval is, if anything,
  too narrow;
- win / tie / loss counts, a tie being |gain| < TIE_TOLERANCE (1e-6, i.e. 0.0001 AUROC points: below the
  resolution 1 / (n_good x n_defective) of any test set under 1000 x 1000 images, so it only absorbs
  floating-point noise, such as two runs that rank every test image alike);
- the two-sided Wilcoxon signed-rank p-value where there are at least 6 pairs, NaN otherwise (with 5 pairs or
  fewer even five wins out of five cannot reach p < 0.05). Ties count as zero differences and are dropped
  (Wilcoxon's rule). scipy.stats.wilcoxon gives it: exact up to 50 pairs when no two |gains| are equal, else
  its tie-corrected normal approximation; except when some |gains| are equal (e.g. several pairs at +0.02)
  and at most 12 are left: then it is the exact distribution of the same statistic (the sum of the ranks of
  the positive gains) over all 2^n sign flips (scipy.stats.permutation_test), exact with tied ranks too;
- one sentence: the gain is "distinguishable from zero" when its interval excludes 0.

Each dataset gets its rows, and the pairs of all datasets together a row with dataset "all datasets".
A variant is defined by the columns `by` (default just attention; bench axes such as attention_site or
train_attention can be added); the baseline is a named row set, by default attention == "none".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from adnkit.errors import AdnkitError

PAIR_KEY = ["dataset", "category", "seed"]
METRIC_LABELS = {"auroc_last": "last", "auroc_best": "best", "auroc_val_selected": "val-selected"}
"""The metrics compared, and their names in sentences."""
TIE_TOLERANCE = 1e-6
MIN_WILCOXON_PAIRS = 6
EXACT_TIED_WILCOXON_PAIRS = 12  # 2^12 sign flips: enumerated in well under a second
ALL_DATASETS = "all datasets"
DEFAULT_RESAMPLES = 1000

PAIRED_COLUMNS = ["dataset", "variant", "baseline", "metric", "metric_label", "n_pairs", "gain_mean",
                  "gain_ci_low", "gain_ci_high", "wins", "ties", "losses", "wilcoxon_p", "distinguishable",
                  "sentence"]
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


# --- statistics of one set of gains -----------------------------------------------------------------------
def gain_stats(gains, *, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95, seed: int = 0,
               tie_tolerance: float = TIE_TOLERANCE) -> dict:
    """n_pairs, gain_mean, gain_ci_low, gain_ci_high, wins, ties, losses, wilcoxon_p, distinguishable for paired
    gains (see the module docstring)."""
    g = np.asarray(gains, dtype=float).reshape(-1)
    g = g[np.isfinite(g)]
    n = g.size
    nan = float("nan")
    g = np.where(np.abs(g) < tie_tolerance, 0.0, g)  # floating-point noise is a tie, for Wilcoxon too
    out = dict(n_pairs=n, gain_mean=float(g.mean()) if n else nan, gain_ci_low=nan, gain_ci_high=nan,
               wins=int((g > 0).sum()), ties=int((g == 0).sum()), losses=int((g < 0).sum()), wilcoxon_p=nan)
    if n >= 2:
        res = sps.bootstrap((g,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                            method="percentile", rng=np.random.default_rng(seed))
        # One value repeated gives that value (up to rounding of the mean): clip into [min, max] of the gains.
        out["gain_ci_low"] = float(np.clip(res.confidence_interval.low, g.min(), g.max()))
        out["gain_ci_high"] = float(np.clip(res.confidence_interval.high, g.min(), g.max()))
    if n >= MIN_WILCOXON_PAIRS:
        out["wilcoxon_p"] = wilcoxon_p(g)
    out["distinguishable"] = bool(out["gain_ci_low"] > 0 or out["gain_ci_high"] < 0)
    return out


def wilcoxon_p(gains) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired gains (zeros dropped; see the module docstring).
    1.0 when every gain is zero."""
    d = np.asarray(gains, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    ranks = sps.rankdata(np.abs(d))
    tied = len(np.unique(ranks)) < d.size
    if tied and d.size <= EXACT_TIED_WILCOXON_PAIRS:
        def w_plus(x, axis=-1):  # the signed-rank statistic; sign flips leave |x|, hence the ranks, unchanged
            return np.sum(np.where(x > 0, ranks, 0.0), axis=axis)

        res = sps.permutation_test((d,), w_plus, permutation_type="samples", vectorized=True, n_resamples=np.inf,
                                   alternative="two-sided")
        return float(min(1.0, res.pvalue))
    method = "exact" if not tied and d.size <= 50 else "asymptotic"  # normal approximation, tie-corrected
    return float(sps.wilcoxon(d, zero_method="wilcox", method=method).pvalue)


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def gain_sentence(variant: str, baseline: str, metric_label: str, stats: dict, *, dataset: str | None = None,
                  confidence: float = 0.95) -> str:
    """One sentence, e.g. "se vs none on elpv (last): +1.20 points [95% CI -0.80, +3.10] over 6 pairs,
    4 wins / 2 losses, Wilcoxon p = 0.31: not distinguishable from zero." (points = 100 x AUROC)."""
    where = f" on {dataset}" if dataset else ""
    n = stats["n_pairs"]
    head = f"{variant} vs {baseline}{where} ({metric_label}): "
    if n == 0:
        return head + "no matched pairs, so no comparison."
    pct = f"{100 * confidence:.3g}%"
    text = head + f"{100 * stats['gain_mean']:+.2f} points"
    if np.isfinite(stats["gain_ci_low"]):
        text += f" [{pct} CI {100 * stats['gain_ci_low']:+.2f}, {100 * stats['gain_ci_high']:+.2f}]"
    text += f" over {_count(n, 'pair')}, {_count(stats['wins'], 'win')}"
    if stats["ties"]:
        text += f" / {_count(stats['ties'], 'tie')}"
    text += f" / {_count(stats['losses'], 'loss', 'losses')}"
    if np.isfinite(stats["wilcoxon_p"]):
        text += f", Wilcoxon p = {stats['wilcoxon_p']:.2g}"
    else:
        text += f", no Wilcoxon test (fewer than {MIN_WILCOXON_PAIRS} pairs)"
    if not np.isfinite(stats["gain_ci_low"]):
        return text + ": too few pairs to tell."
    if stats["distinguishable"]:
        verdict = f"distinguishable from zero (a {'gain' if stats['gain_mean'] > 0 else 'loss'})"
    else:
        verdict = "not distinguishable from zero"
    if n < MIN_WILCOXON_PAIRS:
        verdict += f", though {n} pairs make a rough interval"
    return text + f": {verdict}."


# --- the table --------------------------------------------------------------------------------------------
def paired_gains(results: pd.DataFrame, *, baseline="none", by=("attention",), metrics=None,
                 n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95, seed: int = 0,
                 tie_tolerance: float = TIE_TOLERANCE) -> pd.DataFrame:
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
                stats = gain_stats(cell["gain"], n_resamples=n_resamples, confidence=confidence, seed=seed,
                                   tie_tolerance=tie_tolerance)
                first = cell.iloc[0]
                label = METRIC_LABELS.get(metric, metric)
                rows.append(dict(dataset=dataset, variant=variant, **{c: first[c] for c in by},
                                 baseline=first["baseline"], metric=metric, metric_label=label, **stats,
                                 sentence=gain_sentence(variant, first["baseline"], label, stats, dataset=dataset,
                                                        confidence=confidence)))
    return pd.DataFrame(rows, columns=columns)
