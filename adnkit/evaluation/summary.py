"""The benchmark's summary: mean and std over seeds of every run's AUROCs (and of the per-run metrics registered
with summary=True, adnkit.evaluation.run_metrics) per dataset, category and variant, the gain of each variant
over DifferNet, and the table people read.

The papers print the MAX test AUROC over all evaluations (chosen on the test set); adnkit keeps both that
number (``auroc_best``) and the one after the last epoch (``auroc_last``), and ``summarize`` reports both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.run_metrics import summarised_metrics

AUROC_METRICS = ["auroc_last", "auroc_best", "auroc_val_selected"]
"""The AUROCs summarised: after the last epoch, max over test evaluations, at the lowest validation loss."""
GAIN_COLUMNS = ["gain_last", "gain_best", "gain_val_selected"]
SUMMARY_COLUMNS = [
    "dataset", "category", "attention", "n_categories", "n_seeds",
    "auroc_last_mean", "auroc_last_std", "auroc_best_mean", "auroc_best_std",
    "n_paired", "gain_last_mean", "gain_last_std", "gain_best_mean", "gain_best_std",
    "auroc_val_selected_mean", "auroc_val_selected_std", "gain_val_selected_mean", "gain_val_selected_std",
]
"""Columns of the table `summarize` returns (then mean and std of each summarised run metric)."""
BEST_NOTE = "best = max over evaluations on the test set, as in the papers; last = after the final epoch"
"""What auroc_best and auroc_last mean, said once: metrics.json, the summary, the figures and the CLI use it."""
MEAN_CATEGORY = "mean"
BASELINE = "none"


def _gain(metric: str) -> str:
    return metric.replace("auroc_", "gain_")


def summary_columns() -> list[str]:
    """SUMMARY_COLUMNS, then <key>_mean and <key>_std of each run metric registered with summary=True."""
    return SUMMARY_COLUMNS + [f"{k}_{s}" for k in summarised_metrics() for s in ("mean", "std")]


# --- summary over a benchmark ------------------------------------------------------------------------------
def summarize(results: pd.DataFrame, variant_cols=None) -> pd.DataFrame:
    """`_summarize` per combination of `variant_cols` (columns that, with attention, name a variant: the fields
    of `adnkit bench --grid`), each combination with its own attention "none" baseline; those columns come
    right after attention. Without variant_cols this is `_summarize(results)`."""
    extra = [c for c in (variant_cols or ()) if c != "attention"]
    if not extra or results is None or len(results) == 0:
        return _summarize(results)
    missing = [c for c in extra if c not in results.columns]
    if missing:
        raise AdnkitError(f"results table lacks the variant column(s) {missing}; pass bench's results.csv")
    return pd.concat([part for _, part in per_grid_values(results, extra, _summarize, at=3)], ignore_index=True)


def per_grid_values(results: pd.DataFrame, cols: list[str], table_fn, at: int) -> list[tuple[dict, pd.DataFrame]]:
    """`table_fn` applied to the rows of each combination of values of `cols` (the fields of a bench --grid),
    those columns inserted into each table at position `at`: [(values, table), ...] in the order first seen."""
    parts = []
    for values, rows in results.groupby(cols, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        part = table_fn(rows)
        for i, (col, value) in enumerate(zip(cols, values, strict=True)):
            part.insert(at + i, col, value)
        parts.append((dict(zip(cols, values, strict=True)), part))
    return parts


def _summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of the AUROCs (and summarised run metrics) per (dataset, category, attention),
    and each variant's gain over attention == "none" on the same (dataset, category).

    `results` has one row per run with columns dataset, category, attention, seed, auroc_last, auroc_best
    (and optionally status: rows whose status is not "ok" are left out). Rows come out in the order datasets
    and categories first appear in `results`, each dataset's "mean" rows last, attention "none" first. Std is
    the sample std (ddof=1), NaN with one seed. Gains are computed per seed, only on seeds that both the variant
    and "none" have, then averaged (n_paired counts those seeds); the "none" rows carry no gain (NaN).

    Each (dataset, attention) also gets a row with category "mean": the mean over categories of the
    per-category means (what the papers print), NaN unless that variant ran every category the dataset has
    in `results` (n_categories says how many it ran). Its std is the spread over seeds of the per-seed mean over
    categories, using only seeds that ran every category of that dataset (NaN when fewer than two do);
    its gain likewise. n_seeds of a mean row counts those complete seeds.
    """
    columns = summary_columns()
    runs, given_order = _finished_runs(results)
    if runs.empty:
        return pd.DataFrame(columns=columns)
    metrics = AUROC_METRICS + summarised_metrics()
    key = ["dataset", "category", "attention"]
    paired = _paired_gains(runs)
    per_cat = _mean_std(runs, key, metrics, "n_seeds").merge(
        _mean_std(paired, key, GAIN_COLUMNS, "n_paired"), on=key, how="left")
    out = pd.concat([per_cat.assign(n_categories=1), _dataset_means(runs, paired, per_cat, metrics)],
                    ignore_index=True)
    out["n_categories"] = out["n_categories"].astype(int)
    out["n_seeds"] = out["n_seeds"].astype(int)
    out["n_paired"] = out["n_paired"].fillna(0).astype(int)
    out.loc[out["attention"] == BASELINE, [f"{g}_{s}" for g in GAIN_COLUMNS for s in ("mean", "std")]] = np.nan
    return _in_given_order(out, given_order)[columns].reset_index(drop=True)


def _finished_runs(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finished runs, one row per (dataset, category, attention, seed) (a cell run twice counts once, its
    numbers averaged), and the (dataset, category, attention) columns in the order they were requested."""
    need = {"dataset", "category", "attention", "seed", "auroc_last", "auroc_best"}
    empty = pd.DataFrame(columns=["dataset", "category", "attention", "seed"])
    if results is None or len(results) == 0:
        return empty, empty
    missing = sorted(need - set(results.columns))
    runs = results[results["status"].fillna("ok") == "ok"] if "status" in results.columns else results
    if missing and not runs.empty:
        raise AdnkitError(f"results table lacks column(s) {missing}; pass bench's results.csv")
    runs = runs.dropna(subset=["auroc_last", "auroc_best"]) if not runs.empty else runs
    if runs.empty:
        return empty, empty
    metrics = AUROC_METRICS + summarised_metrics()
    runs = runs.assign(**{m: np.nan for m in metrics if m not in runs.columns})  # older benchmarks lack some
    runs = runs.astype({"dataset": str, "category": str, "attention": str})
    runs = runs.assign(seed=runs["seed"].astype(int), **{m: runs[m].astype(float) for m in metrics})
    key = ["dataset", "category", "attention"]
    return runs.groupby(key + ["seed"], as_index=False)[metrics].mean(), runs[key]


def _paired_gains(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-seed gains of every variant over "none" on the same (dataset, category, seed)."""
    base = runs[runs["attention"] == BASELINE].drop(columns="attention")
    paired = runs.merge(base, on=["dataset", "category", "seed"], suffixes=("", "_base"))
    paired = paired.assign(**{_gain(m): paired[m] - paired[f"{m}_base"] for m in AUROC_METRICS})
    return paired[paired["attention"] != BASELINE]


def _dataset_means(runs: pd.DataFrame, paired: pd.DataFrame, per_cat: pd.DataFrame, metrics: list[str]):
    """Per-dataset "mean" rows: the mean of the category means (NaN unless the variant ran every category),
    with the spread over the seeds that ran every category."""
    dkey = ["dataset", "attention"]
    cat_means = per_cat.groupby(dkey, as_index=False).agg(
        **{f"{c}_mean": (f"{c}_mean", "mean") for c in metrics + GAIN_COLUMNS},
        n_categories=("category", "nunique"), _n_gain=("gain_best_mean", "count"))
    n_cats = runs.groupby("dataset")["category"].nunique().rename("n_cats")
    # A mean over only some of a dataset's categories would not compare with the other variants' means.
    cat_means = cat_means.join(n_cats, on="dataset")
    cat_means.loc[cat_means["n_categories"] < cat_means["n_cats"], [f"{m}_mean" for m in metrics]] = np.nan
    cat_means.loc[cat_means["_n_gain"] < cat_means["n_cats"], [f"{g}_mean" for g in GAIN_COLUMNS]] = np.nan
    cat_means = cat_means.drop(columns=["_n_gain", "n_cats"])
    seed_spread = _mean_std(_complete_seed_means(runs, metrics, n_cats), dkey, metrics, "n_seeds")[
        dkey + ["n_seeds"] + [f"{m}_std" for m in metrics]]
    gain_spread = _mean_std(_complete_seed_means(paired, GAIN_COLUMNS, n_cats), dkey, GAIN_COLUMNS, "n_paired")[
        dkey + ["n_paired"] + [f"{g}_std" for g in GAIN_COLUMNS]]
    mean_rows = (cat_means.merge(seed_spread, on=dkey, how="left").merge(gain_spread, on=dkey, how="left")
                 .assign(category=MEAN_CATEGORY))
    mean_rows["n_seeds"] = mean_rows["n_seeds"].fillna(0)
    return mean_rows


def _in_given_order(out: pd.DataFrame, given_order: pd.DataFrame) -> pd.DataFrame:
    """Datasets, categories and variants in the order they first appear in the results; each dataset's "mean"
    rows last, "none" first."""
    first = {name: i for i, name in enumerate(dict.fromkeys(given_order["dataset"]))}
    cat_first = {name: i for i, name in enumerate(dict.fromkeys(given_order["category"]))}
    variant_first = {name: i for i, name in enumerate(dict.fromkeys(given_order["attention"]))}
    out = out.assign(_d=out["dataset"].map(first), _is_mean=out["category"] == MEAN_CATEGORY,
                     _c=out["category"].map(cat_first), _is_base=out["attention"] != BASELINE,
                     _v=out["attention"].map(variant_first))
    return out.sort_values(["_d", "_is_mean", "_c", "_is_base", "_v"], kind="stable")


def _mean_std(frame: pd.DataFrame, by: list[str], cols: list[str], count_name: str) -> pd.DataFrame:
    """mean and std (ddof=1) of `cols` per group, as <col>_mean / <col>_std, plus the group size."""
    if frame.empty:
        return pd.DataFrame(columns=by + [count_name] + [f"{c}_{s}" for c in cols for s in ("mean", "std")])
    grouped = frame.groupby(by)[cols]
    stats = grouped.agg(["mean", "std"])
    stats.columns = [f"{c}_{stat}" for c, stat in stats.columns]
    return stats.assign(**{count_name: grouped.size()}).reset_index()


def _complete_seed_means(frame: pd.DataFrame, cols: list[str], n_cats: pd.Series) -> pd.DataFrame:
    """Per (dataset, attention, seed): mean over categories of `cols`, kept only where the seed ran every
    category of its dataset."""
    if frame.empty:
        return pd.DataFrame(columns=["dataset", "attention", "seed", *cols])
    by = ["dataset", "attention", "seed"]
    means = frame.groupby(by, as_index=False).agg(
        **{c: (c, "mean") for c in cols}, _n=("category", "nunique"))
    means = means.join(n_cats, on="dataset")
    return means[means["_n"] == means["n_cats"]][by + cols]


def without_repeated_means(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary without the "mean" rows of a dataset measured on one category (they would repeat its rows)."""
    if summary.empty:
        return summary
    one_category = summary.groupby("dataset")["category"].transform(lambda c: c[c != MEAN_CATEGORY].nunique() == 1)
    return summary[~(one_category & (summary["category"] == MEAN_CATEGORY))].reset_index(drop=True)


def summary_display(summary: pd.DataFrame, fmt, gains=("best",), gain_label="gain {} vs none (points)",
                    paired: bool = False, columns=("auroc_last", "auroc_best", "auroc_val_selected")) -> pd.DataFrame:
    """The summary as people read it (the terminal's and the report's table): the AUROCs named in `columns` as
    `fmt(mean, std)` text, the gains named in `gains` as `fmt(mean, std, signed=True)`, any bench --grid
    columns after attention, and the number of paired seeds when `paired`."""
    grid_cols = [c for c in summary.columns if c not in summary_columns() and not c.startswith("verdict_")]
    names = {"auroc_last": "AUROC last (%)", "auroc_best": "AUROC best (%)",
             "auroc_val_selected": "AUROC val-selected (%)", **{k: k for k in summarised_metrics()}}

    def column(name: str, signed: bool = False) -> list[str]:
        means, stds = summary[f"{name}_mean"], summary[f"{name}_std"]
        return [fmt(m, s, signed=signed) for m, s in zip(means, stds, strict=True)]

    table = {"dataset": summary["dataset"], "category": summary["category"], "attention": summary["attention"],
             **{c: summary[c] for c in grid_cols}, "seeds": summary["n_seeds"],
             **{names[c]: column(c) for c in columns}}
    table.update({gain_label.format(g): column(f"gain_{g}", signed=True) for g in gains})
    if paired:
        table["paired seeds"] = summary["n_paired"]
    return pd.DataFrame(table)
