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

from adnkit.errors import AdnkitError

THRESHOLD_METHODS = ("youden", "train_quantile")

# Columns of the table `summarize` returns (also returned, empty, when there is nothing to summarise).
SUMMARY_COLUMNS = [
    "dataset", "category", "attention", "n_categories", "n_seeds",
    "auroc_last_mean", "auroc_last_std", "auroc_best_mean", "auroc_best_std",
    "n_paired", "gain_last_mean", "gain_last_std", "gain_best_mean", "gain_best_std",
]
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
                     quantile: float = 0.99) -> tuple[float, str]:
    """A decision threshold (``score >= threshold`` means defective) and one sentence saying how it was chosen.

    youden          maximises TPR - FPR on the given (test) labels and scores: optimistic, since the test
                    set itself picks it. Falls back to train_quantile when the labels hold one class only.
    train_quantile  the `quantile` of the training images' scores (`train_scores`): needs no defective images.
    """
    if method not in THRESHOLD_METHODS:
        raise AdnkitError(f"threshold method {method!r} is unknown; use one of: {', '.join(THRESHOLD_METHODS)}")
    y, s = _as_arrays(labels, scores)
    if method == "youden" and _both_classes(y):
        fpr, tpr, thr = roc_curve(y, s)
        j = tpr - fpr
        best = int(np.argmax(j))
        threshold = float(thr[best])
        if not np.isfinite(threshold):  # J is never positive: nothing separates; call only the top one defective
            threshold = float(s.max())
        return threshold, (
            f"Threshold {threshold:.6g} maximises TPR - FPR (Youden's J = {j[best]:.3f}) on the test set itself, "
            "so it was chosen on the test set and its accuracy is optimistic."
        )
    fallback = method == "youden"
    if train_scores is None:
        if fallback:
            raise AdnkitError("youden needs good and defective test images, and no training scores were given "
                              "for the train_quantile fallback; pass train_scores")
        raise AdnkitError("train_quantile needs the training images' scores; pass train_scores")
    if not 0 < quantile < 1:
        raise AdnkitError(f"quantile={quantile}: must lie in (0, 1), e.g. 0.99")
    t = np.asarray(train_scores, dtype=float).reshape(-1)
    if t.size == 0 or not np.isfinite(t).all():
        raise AdnkitError("train_scores must be a non-empty list of finite numbers")
    threshold = float(np.quantile(t, quantile))
    text = (f"Threshold {threshold:.6g} is the {quantile:.4g} quantile of {t.size} training-image scores, "
            "so it needs no defective images.")
    if fallback:
        text = ("The test labels hold only one class, so Youden's J cannot be computed; instead, "
                + text[0].lower() + text[1:])
    return threshold, text


def decisions(scores, threshold: float) -> np.ndarray:
    """The one decision rule of adnkit: "anomalous" where score >= threshold, else "good" (array of str)."""
    return np.where(np.asarray(scores, dtype=float) >= threshold, "anomalous", "good")


def confusion_at(labels, scores, threshold: float) -> dict:
    """Counts and rates when ``score >= threshold`` is called defective. Rates with an empty denominator are NaN."""
    y, s = _as_arrays(labels, scores)
    pred = decisions(s, threshold) == "anomalous"
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tpr = tp / (tp + fn) if tp + fn else float("nan")
    fpr = fp / (fp + tn) if fp + tn else float("nan")
    return dict(tp=tp, fp=fp, tn=tn, fn=fn, tpr=tpr, fpr=fpr, accuracy=(tp + tn) / y.size)


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
    parts = []
    for values, sub in results.groupby(extra, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        part = _summarize(sub)
        for i, (col, value) in enumerate(zip(extra, values)):
            part.insert(3 + i, col, value)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of auroc_last / auroc_best per (dataset, category, attention), and each
    variant's gain over attention == "none" on the same (dataset, category).

    `results` has one row per run with columns dataset, category, attention, seed, auroc_last, auroc_best
    (and optionally status: rows whose status is not "ok" are left out). Rows come out in the order datasets
    and categories first appear in `results`, each dataset's "mean" rows last, attention "none" first. Std is the sample std (ddof=1),
    NaN with one seed. Gains are computed per seed, only on seeds that both the variant and "none" have,
    then averaged (n_paired counts those seeds); the "none" rows carry no gain (NaN).

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
    runs = runs.astype({"dataset": str, "category": str, "attention": str})
    runs = runs.assign(seed=runs["seed"].astype(int),
                       auroc_last=runs["auroc_last"].astype(float),
                       auroc_best=runs["auroc_best"].astype(float))
    # A cell run twice (same dataset, category, attention, seed) counts once.
    key = ["dataset", "category", "attention"]
    given_order = runs[key]  # groupby sorts; the summary keeps the order in which cells were requested
    runs = runs.groupby(key + ["seed"], as_index=False)[["auroc_last", "auroc_best"]].mean()

    # Per-seed gains over "none" on the same (dataset, category, seed).
    base = runs[runs["attention"] == BASELINE].drop(columns="attention")
    paired = runs.merge(base, on=["dataset", "category", "seed"], suffixes=("", "_base"))
    paired = paired.assign(gain_last=paired["auroc_last"] - paired["auroc_last_base"],
                           gain_best=paired["auroc_best"] - paired["auroc_best_base"])
    paired = paired[paired["attention"] != BASELINE]

    per_cat = _mean_std(runs, key, ["auroc_last", "auroc_best"], "n_seeds")
    gains = _mean_std(paired, key, ["gain_last", "gain_best"], "n_paired")
    per_cat = per_cat.merge(gains, on=key, how="left")

    # Per-dataset "mean" rows: mean of category means; spread over seeds that ran every category.
    dkey = ["dataset", "attention"]
    cat_means = per_cat.groupby(dkey, as_index=False).agg(
        auroc_last_mean=("auroc_last_mean", "mean"), auroc_best_mean=("auroc_best_mean", "mean"),
        gain_last_mean=("gain_last_mean", "mean"), gain_best_mean=("gain_best_mean", "mean"),
        n_categories=("category", "nunique"), _n_gain=("gain_best_mean", "count"))
    n_cats = runs.groupby("dataset")["category"].nunique().rename("n_cats")
    # A mean over only some of a dataset's categories would not compare with the other variants' means.
    cat_means = cat_means.join(n_cats, on="dataset")
    cat_means.loc[cat_means["n_categories"] < cat_means["n_cats"], ["auroc_last_mean", "auroc_best_mean"]] = np.nan
    cat_means.loc[cat_means["_n_gain"] < cat_means["n_cats"], ["gain_last_mean", "gain_best_mean"]] = np.nan
    cat_means = cat_means.drop(columns=["_n_gain", "n_cats"])
    seed_means = _complete_seed_means(runs, ["auroc_last", "auroc_best"], n_cats)
    seed_spread = _mean_std(seed_means, dkey, ["auroc_last", "auroc_best"], "n_seeds")[
        dkey + ["n_seeds", "auroc_last_std", "auroc_best_std"]]
    gain_means = _complete_seed_means(paired, ["gain_last", "gain_best"], n_cats)
    gain_spread = _mean_std(gain_means, dkey, ["gain_last", "gain_best"], "n_paired")[
        dkey + ["n_paired", "gain_last_std", "gain_best_std"]]
    mean_rows = (cat_means.merge(seed_spread, on=dkey, how="left").merge(gain_spread, on=dkey, how="left")
                 .assign(category=MEAN_CATEGORY))
    mean_rows["n_seeds"] = mean_rows["n_seeds"].fillna(0)

    out = pd.concat([per_cat.assign(n_categories=1), mean_rows], ignore_index=True)
    out["n_categories"] = out["n_categories"].astype(int)
    out["n_seeds"] = out["n_seeds"].astype(int)
    out["n_paired"] = out["n_paired"].fillna(0).astype(int)
    out.loc[out["attention"] == BASELINE, ["gain_last_mean", "gain_last_std", "gain_best_mean", "gain_best_std"]] = np.nan
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
