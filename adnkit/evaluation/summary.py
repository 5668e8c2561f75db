"""Image-level metrics and the benchmark's summary table.

Conventions used everywhere in adnkit:
  * label 1 = defective (the positive class), label 0 = good;
  * a higher score means "more anomalous";
  * an image is called defective when ``score >= threshold`` (the same rule as sklearn's ``roc_curve``).

The papers print the MAX test AUROC over all evaluations (chosen on the test set); adnkit keeps both that
number (``auroc_best``) and the one after the last epoch (``auroc_last``), and ``summarize`` reports both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from adnkit.core.errors import AdnkitError

THRESHOLD_METHODS = ("val_fpr", "youden", "train_quantile")

# Columns of the table `summarize` returns (also returned, empty, when there is nothing to summarise).
SUMMARY_COLUMNS = [
    "dataset", "category", "attention", "n_categories", "n_seeds",
    "auroc_last_mean", "auroc_last_std", "auroc_best_mean", "auroc_best_std",
    "n_paired", "gain_last_mean", "gain_last_std", "gain_best_mean", "gain_best_std",
    "auroc_val_selected_mean", "auroc_val_selected_std", "gain_val_selected_mean", "gain_val_selected_std",
]
SUMMARY_METRICS = ["auroc_last", "auroc_best", "auroc_val_selected"]
"""The AUROCs summarised: after the last epoch, max over test evaluations, at the lowest validation loss."""


def _gain(metric: str) -> str:
    return metric.replace("auroc_", "gain_")
BEST_NOTE = "best = max over evaluations on the test set, as in the papers; last = after the final epoch"
"""What auroc_best and auroc_last mean, said once: metrics.json, the summary, the figures and the CLI use it."""
MEAN_CATEGORY = "mean"
BASELINE = "none"


# --- inputs -----------------------------------------------------------------------------------------------
def _as_arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
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
    y, s = _as_arrays(labels, scores)
    if not _both_classes(y):
        raise AdnkitError(_one_class_message(y))
    return float(roc_auc_score(y, s))


def roc_table(labels, scores) -> pd.DataFrame:
    """The ROC curve as a table with columns fpr, tpr, threshold (sklearn's roc_curve; the first
    threshold is +inf, where nothing is called defective)."""
    y, s = _as_arrays(labels, scores)
    if not _both_classes(y):
        raise AdnkitError(_one_class_message(y))
    fpr, tpr, thr = roc_curve(y, s)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})


# --- thresholds -------------------------------------------------------------------------------------------
def choose_threshold(labels, scores, method: str = "youden", train_scores=None,
                     quantile: float = 0.99, *, val_scores=None, target_fpr: float = 0.01) -> tuple[float, str]:
    """A decision threshold (``score >= threshold`` means defective) and the sentence saying how it was chosen.

    Delegates to adnkit.evaluation.threshold.choose_threshold (see there; it also returns the validation FPR):
    val_fpr         at most `target_fpr` of the validation images (`val_scores`) called defective: needs no
                    test labels; falls back to train_quantile without validation scores.
    youden          maximises TPR - FPR on the given (test) labels and scores: optimistic, since the test
                    set itself picks it. Falls back to train_quantile when the labels hold one class only.
                    The threshold lies midway between the score at the best J and the next lower score (the
                    same decisions on the test set): at the score itself, that image's decision would hinge
                    on its last bits, which another runtime (onnxruntime) or machine computes differently.
    train_quantile  the `quantile` of the training images' scores (`train_scores`): needs no defective images.
    """
    from adnkit.evaluation.threshold import choose_threshold as choose

    if method in THRESHOLD_METHODS:
        _as_arrays(labels, scores)  # the test scores are checked whichever method is used
    chosen = choose(method, val_scores=val_scores, train_scores=train_scores, test_labels=labels,
                    test_scores=scores, target_fpr=target_fpr, quantile=quantile)
    return chosen.value, chosen.text


def decisions(scores, threshold: float) -> np.ndarray:
    """The one decision rule of adnkit: "anomalous" where score >= threshold, else "good" (array of str)."""
    return np.where(np.asarray(scores, dtype=float) >= threshold, "anomalous", "good")


def confusion_at(labels, scores, threshold: float) -> dict:
    """Counts and rates when ``score >= threshold`` is called defective: tp, fp, tn, fn, tpr, fpr, accuracy,
    precision, f1 (adnkit.evaluation.threshold.rates_at). Rates with an empty denominator are NaN."""
    from adnkit.evaluation.threshold import rates_at

    return rates_at(labels, scores, threshold)


# --- summary over a benchmark ------------------------------------------------------------------------------
def summarize(results: pd.DataFrame, variant_cols=None) -> pd.DataFrame:
    """`_summarize` per combination of `variant_cols` (columns that, with attention, name a variant: the fields
    of `adnkit bench --grid`), each combination with its own attention "none" baseline; those columns come
    right after attention. Without variant_cols this is `_summarize(results)`, the table as it always was."""
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
    """Mean and std over seeds of auroc_last / auroc_best per (dataset, category, attention), and each
    variant's gain over attention == "none" on the same (dataset, category).

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
    need = {"dataset", "category", "attention", "seed", "auroc_last", "auroc_best"}
    if results is None or len(results) == 0:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    runs = results
    if "status" in runs.columns:
        runs = runs[runs["status"].fillna("ok") == "ok"]
        if runs.empty:
            return pd.DataFrame(columns=SUMMARY_COLUMNS)
    missing = sorted(need - set(results.columns))
    if missing:
        raise AdnkitError(f"results table lacks column(s) {missing}; pass bench's results.csv")
    runs = runs.dropna(subset=["auroc_last", "auroc_best"])
    if runs.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    if "auroc_val_selected" not in runs.columns:  # benchmarks from before the validation protocol
        runs = runs.assign(auroc_val_selected=np.nan)
    runs = runs.astype({"dataset": str, "category": str, "attention": str})
    runs = runs.assign(seed=runs["seed"].astype(int), **{m: runs[m].astype(float) for m in SUMMARY_METRICS})
    # A cell run twice (same dataset, category, attention, seed) counts once.
    key = ["dataset", "category", "attention"]
    given_order = runs[key]  # groupby sorts; the summary keeps the order in which cells were requested
    runs = runs.groupby(key + ["seed"], as_index=False)[SUMMARY_METRICS].mean()

    # Per-seed gains over "none" on the same (dataset, category, seed).
    gain_cols = [_gain(m) for m in SUMMARY_METRICS]
    base = runs[runs["attention"] == BASELINE].drop(columns="attention")
    paired = runs.merge(base, on=["dataset", "category", "seed"], suffixes=("", "_base"))
    paired = paired.assign(**{_gain(m): paired[m] - paired[f"{m}_base"] for m in SUMMARY_METRICS})
    paired = paired[paired["attention"] != BASELINE]

    per_cat = _mean_std(runs, key, SUMMARY_METRICS, "n_seeds")
    gains = _mean_std(paired, key, gain_cols, "n_paired")
    per_cat = per_cat.merge(gains, on=key, how="left")

    # Per-dataset "mean" rows: mean of category means; spread over seeds that ran every category.
    dkey = ["dataset", "attention"]
    cat_means = per_cat.groupby(dkey, as_index=False).agg(
        **{f"{c}_mean": (f"{c}_mean", "mean") for c in SUMMARY_METRICS + gain_cols},
        n_categories=("category", "nunique"), _n_gain=("gain_best_mean", "count"))
    n_cats = runs.groupby("dataset")["category"].nunique().rename("n_cats")
    # A mean over only some of a dataset's categories would not compare with the other variants' means.
    cat_means = cat_means.join(n_cats, on="dataset")
    cat_means.loc[cat_means["n_categories"] < cat_means["n_cats"], [f"{m}_mean" for m in SUMMARY_METRICS]] = np.nan
    cat_means.loc[cat_means["_n_gain"] < cat_means["n_cats"], [f"{g}_mean" for g in gain_cols]] = np.nan
    cat_means = cat_means.drop(columns=["_n_gain", "n_cats"])
    seed_means = _complete_seed_means(runs, SUMMARY_METRICS, n_cats)
    seed_spread = _mean_std(seed_means, dkey, SUMMARY_METRICS, "n_seeds")[
        dkey + ["n_seeds"] + [f"{m}_std" for m in SUMMARY_METRICS]]
    gain_means = _complete_seed_means(paired, gain_cols, n_cats)
    gain_spread = _mean_std(gain_means, dkey, gain_cols, "n_paired")[
        dkey + ["n_paired"] + [f"{g}_std" for g in gain_cols]]
    mean_rows = (cat_means.merge(seed_spread, on=dkey, how="left").merge(gain_spread, on=dkey, how="left")
                 .assign(category=MEAN_CATEGORY))
    mean_rows["n_seeds"] = mean_rows["n_seeds"].fillna(0)

    out = pd.concat([per_cat.assign(n_categories=1), mean_rows], ignore_index=True)
    out["n_categories"] = out["n_categories"].astype(int)
    out["n_seeds"] = out["n_seeds"].astype(int)
    out["n_paired"] = out["n_paired"].fillna(0).astype(int)
    out.loc[out["attention"] == BASELINE, [f"{g}_{s}" for g in gain_cols for s in ("mean", "std")]] = np.nan
    # Datasets, categories and variants in the order they first appear in `results`; "mean" last, "none" first.
    first = {name: i for i, name in enumerate(dict.fromkeys(given_order["dataset"]))}
    cat_first = {name: i for i, name in enumerate(dict.fromkeys(given_order["category"]))}
    variant_first = {name: i for i, name in enumerate(dict.fromkeys(given_order["attention"]))}
    out = out.assign(_d=out["dataset"].map(first), _is_mean=out["category"] == MEAN_CATEGORY,
                     _c=out["category"].map(cat_first), _is_base=out["attention"] != BASELINE,
                     _v=out["attention"].map(variant_first))
    out = out.sort_values(["_d", "_is_mean", "_c", "_is_base", "_v"], kind="stable")
    return out[SUMMARY_COLUMNS].reset_index(drop=True)


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


def summary_display(summary: pd.DataFrame, fmt, gains=("best",), gain_label="gain {} vs none (points)",
                    paired: bool = False, columns=("auroc_last", "auroc_best", "auroc_val_selected")) -> pd.DataFrame:
    """The summary as people read it (the terminal's and the report's table): the AUROCs named in `columns` as
    `fmt(mean, std)` text, the gains named in `gains` as `fmt(mean, std, signed=True)`, any bench --grid
    columns after attention, and the number of paired seeds when `paired`."""
    grid_cols = [c for c in summary.columns if c not in SUMMARY_COLUMNS and not c.startswith("verdict_")]
    names = {"auroc_last": "AUROC last (%)", "auroc_best": "AUROC best (%)",
             "auroc_val_selected": "AUROC val-selected (%)"}

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
