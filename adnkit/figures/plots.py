"""Plotly figures for runs and benchmarks. Each function returns a `plotly.graph_objects.Figure` and shows
nothing: call `fig.show()` in a notebook, or let `adnkit.experiments.report` embed it in HTML.

AUROC is drawn in percent, as the papers print it. Inputs are the tables adnkit writes: a summary from
`adnkit.evaluation.summary.summarize`, a results table from `adnkit.experiments.bench.benchmark`, a history.csv per
run, and the
published numbers from `adnkit.evaluation.published`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from adnkit.attention.registry import BUILT_IN_ATTENTION, attention_names
from adnkit.core.errors import AdnkitError
from adnkit.evaluation.auroc import auroc, roc_table
from adnkit.evaluation.summary import BASELINE, BEST_NOTE, MEAN_CATEGORY

PALETTE = qualitative.Plotly
PAPER_PALETTE = qualitative.Pastel


def variant_color(attention: str) -> str:
    """The same colour for an attention variant in every figure: DifferNet's, then the registry's order
    (adnkit.attention.registry); a name beyond the palette or not registered gets a spare colour chosen from
    its letters, the same every time."""
    known = [BASELINE, *attention_names()][:len(PALETTE)]
    if attention in known:
        return PALETTE[known.index(attention)]
    first_spare = 1 + len(BUILT_IN_ATTENTION)
    return PALETTE[first_spare + sum(map(ord, attention)) % (len(PALETTE) - first_spare)]


def _variant_name(attention: str) -> str:
    return "DifferNet (none)" if attention == BASELINE else f"AttentDifferNet ({attention})"


def _category_labels(frame: pd.DataFrame) -> pd.Series:
    """"category", or "dataset/category" when the frame holds more than one dataset."""
    if frame["dataset"].nunique() > 1:
        return frame["dataset"].astype(str) + "/" + frame["category"].astype(str)
    return frame["category"].astype(str)


def _category_order(frame: pd.DataFrame) -> list[str]:
    """Category labels in the frame's order, each dataset's "mean" last."""
    labels = _category_labels(frame)
    is_mean = (frame["category"] == MEAN_CATEGORY).to_numpy()
    order = list(dict.fromkeys(labels[~is_mean])) + list(dict.fromkeys(labels[is_mean]))
    return order


def auroc_range(values, pad: float = 5.0) -> list[float]:
    """A y-axis range for AUROC in percent: from `pad` points below the lowest value (at least 0) up to exactly
    100. Plotly's own autorange would run past 100 (to 101 for a perfect run) or, when every value is the same
    (all 100 at the ci preset), span 0 to 2x the value."""
    v = np.asarray(values, dtype=float).reshape(-1)
    v = v[np.isfinite(v)]
    low = float(v.min()) if v.size else 0.0
    return [max(0.0, min(low, 100.0) - pad), 100.0]


def nothing_to_plot(fig: go.Figure, note: str) -> go.Figure:
    """Replace an empty chart by a sentence saying why it is empty (no axes, no empty grid)."""
    fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                       font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=220, shapes=[])
    return fig


def _metric(metric: str) -> str:
    if metric not in ("best", "last", "val_selected"):
        raise AdnkitError(f"metric={metric!r}: use 'best', 'last' or 'val_selected'")
    return metric


# --- one run -------------------------------------------------------------------------------------------------
def roc_figure(curves: Mapping[str, tuple[Sequence, Sequence]], title: str = "ROC curves") -> go.Figure:
    """One ROC curve per entry: name -> (labels, scores). The legend gives each curve's AUROC. Entries whose
    labels hold a single class cannot have a curve and are listed under the plot instead."""
    fig = go.Figure()
    skipped = []
    for i, (name, (labels, scores)) in enumerate(curves.items()):
        y = np.asarray(labels)
        if y.size == 0 or np.unique(y).size < 2:
            skipped.append(str(name))
            continue
        table = roc_table(y, scores)
        fig.add_trace(go.Scatter(
            x=table["fpr"], y=table["tpr"], mode="lines", line=dict(color=PALETTE[i % len(PALETTE)]),
            name=f"{name} (AUROC {100 * auroc(y, scores):.1f})",
            hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra>" + str(name) + "</extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="gray"),
                             name="chance", hoverinfo="skip"))
    if skipped:
        fig.add_annotation(text="no curve (one class only): " + ", ".join(skipped), showarrow=False,
                           xref="paper", yref="paper", x=0, y=-0.18, xanchor="left")
    fig.update_layout(title=title, xaxis_title="false positive rate (good called defective)",
                      yaxis_title="true positive rate (defects found)", template="plotly_white",
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]))
    return fig


def _wants_log(scores: np.ndarray) -> bool:
    """Flow scores of far-off images can be orders of magnitude above the rest: then bin on a log scale."""
    finite = scores[np.isfinite(scores)]
    return finite.size > 1 and finite.min() > 0 and finite.max() / np.median(finite) > 100


def score_histogram(labels, scores, threshold: float | None = None, highlight=None,
                    title: str = "Anomaly scores: good vs defective", bins: int = 40,
                    log: bool | None = None) -> go.Figure:
    """Overlaid histograms of the good (label 0) and defective (label 1) images' scores, on shared bins.

    threshold: a vertical line (scores at or above it are called defective).
    highlight: one score to mark, either a number or a (name, score) pair, e.g. a new image being checked.
    log: bin log10(score) instead of the score; None decides from the data (a few huge scores would
    otherwise squeeze every other image into one bin).
    """
    y = np.asarray(labels).reshape(-1)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if y.shape != s.shape:
        raise AdnkitError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    log = _wants_log(s) if log is None else log
    axis = "log10 anomaly score (higher = more anomalous)" if log else "anomaly score (higher = more anomalous)"
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.log10(s)
        threshold = None if threshold is None or threshold <= 0 else float(np.log10(threshold))
        if highlight is not None:
            name, value = highlight if isinstance(highlight, (tuple, list)) else ("highlighted", highlight)
            highlight = (name, float(np.log10(value)) if value > 0 else float("nan"))
    finite = s[np.isfinite(s)]
    fig = go.Figure()
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        size = (hi - lo) / bins if hi > lo else 1.0
        xbins = dict(start=lo, end=hi + size, size=size)
        for label, name, color in ((0, "good", "#2ca02c"), (1, "defective", "#d62728")):
            part = s[(y == label) & np.isfinite(s)]
            if part.size:
                fig.add_trace(go.Histogram(x=part, name=f"{name} ({part.size})", xbins=xbins, opacity=0.6,
                                           marker_color=color))
    if threshold is not None and np.isfinite(threshold):
        fig.add_vline(x=float(threshold), line_dash="dash", line_color="black",
                      annotation_text=f"threshold {threshold:.4g}", annotation_position="top right")
    if highlight is not None:
        name, value = highlight if isinstance(highlight, (tuple, list)) else ("highlighted", highlight)
        fig.add_trace(go.Scatter(x=[float(value)], y=[0], mode="markers+text", text=[str(name)],
                                 textposition="top center", name=f"{name}: {float(value):.4g}",
                                 marker=dict(symbol="triangle-up", size=16, color="black")))
    fig.update_layout(title=title, barmode="overlay", xaxis_title=axis, yaxis_title="images", template="plotly_white")
    return fig


def training_curves(histories: Mapping[str, pd.DataFrame], title: str = "Training") -> go.Figure:
    """Train loss and test AUROC after each evaluation (meta epoch), one line per run: name -> history table
    (columns meta_epoch, train_loss, auroc, as in history.csv)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("train loss", "test AUROC (%) per evaluation"))
    shown = []
    for i, (name, hist) in enumerate(histories.items()):
        if hist is None or len(hist) == 0:
            continue
        x = hist["meta_epoch"] if "meta_epoch" in hist else pd.Series(range(1, len(hist) + 1))
        color = PALETTE[i % len(PALETTE)]
        if "train_loss" in hist:
            fig.add_trace(go.Scatter(x=x, y=hist["train_loss"], mode="lines+markers", name=str(name),
                                     legendgroup=str(name), line=dict(color=color)), row=1, col=1)
        if "auroc" in hist:
            shown.append(100 * hist["auroc"].astype(float))
            fig.add_trace(go.Scatter(x=x, y=shown[-1], mode="lines+markers", cliponaxis=False,
                                     name=str(name), legendgroup=str(name), showlegend="train_loss" not in hist,
                                     line=dict(color=color)), row=1, col=2)
    fig.update_xaxes(title_text="meta epoch")
    fig.update_yaxes(range=auroc_range(np.concatenate(shown) if shown else []), row=1, col=2)
    fig.update_layout(title=title, template="plotly_white")
    return fig


# --- a benchmark ---------------------------------------------------------------------------------------------
def category_bars(summary: pd.DataFrame, reference: pd.DataFrame | None = None, metric: str = "best",
                  title: str | None = None) -> go.Figure:
    """Measured AUROC (mean +- std over seeds) per category and variant as grouped bars, with the papers'
    numbers (`adnkit.evaluation.published` rows) as hatched bars beside them, only for categories that were measured."""
    metric = _metric(metric)
    fig = go.Figure()
    if summary is None or summary.empty:
        fig.update_layout(title=title or "No finished runs to show")
        return fig
    summary = summary.reset_index(drop=True)
    labels = _category_labels(summary)
    order = _category_order(summary)
    for attention in summary["attention"].drop_duplicates():
        rows = summary["attention"] == attention
        fig.add_trace(_spread_bar(summary, rows, labels, f"auroc_{metric}", "n_seeds", attention,
                                  f"{_variant_name(attention)}, measured", "%{y:.2f} (n seeds %{customdata})"))
    if reference is not None and not reference.empty:
        keys = set(zip(summary["dataset"], summary["category"], strict=True))
        ref_keys = zip(reference["dataset"], reference["category"], strict=True)
        ref = reference[[k in keys for k in ref_keys]].reset_index(drop=True)
        if not ref.empty:
            ref_labels = (ref["dataset"] + "/" + ref["category"]) if summary["dataset"].nunique() > 1 \
                else ref["category"]
            for i, ((paper, method), idx) in enumerate(ref.groupby(["paper", "method"], sort=False).groups.items()):
                fig.add_trace(go.Bar(
                    x=ref_labels[idx], y=100 * ref.loc[idx, "auroc"], name=f"paper: {method} ({paper} paper)",
                    marker=dict(color=PAPER_PALETTE[i % len(PAPER_PALETTE)], pattern_shape="/",
                                line=dict(color="black", width=0.5)),
                    customdata=ref.loc[idx, "source"],
                    hovertemplate="%{x}: %{y:.2f}<br>%{customdata}<extra>%{fullData.name}</extra>"))
    # The y axis starts a little below the lowest bar drawn, measured or published, so none is cut off.
    shown = [100 * summary[f"auroc_{metric}_mean"].astype(float)]
    shown += [t.y for t in fig.data if t.name.startswith("paper:")]
    low = float(np.nanmin(np.concatenate([np.asarray(v, dtype=float) for v in shown]), initial=np.inf)) \
        if any(len(v) for v in shown) else np.nan
    fig.update_layout(
        title=title or f"Image AUROC per category ({metric}: mean +- std over seeds)",
        barmode="group", template="plotly_white", yaxis_title=f"image AUROC {metric} (%)",
        margin=dict(b=110),
        xaxis=dict(categoryorder="array", categoryarray=order),
        yaxis=dict(range=[max(0.0, (low if np.isfinite(low) else 50) - 10), 100.0]))
    fig.add_annotation(text=BEST_NOTE, showarrow=False, xref="paper", yref="paper", x=0, y=-0.22,
                       xanchor="left", font=dict(size=11))
    return fig


def _spread_bar(summary: pd.DataFrame, rows, labels, column: str, count: str, attention: str, name: str,
                hover: str) -> go.Bar:
    """Bars of 100 * <column>_mean with <column>_std error bars for the summary rows `rows` of one variant."""
    return go.Bar(
        x=labels[rows], y=100 * summary.loc[rows, f"{column}_mean"].astype(float),
        error_y=dict(type="data", array=(100 * summary.loc[rows, f"{column}_std"].astype(float)).fillna(0)),
        name=name, marker_color=variant_color(attention), customdata=summary.loc[rows, count],
        hovertemplate="%{x}: " + hover + "<extra>%{fullData.name}</extra>")


def gain_figure(summary: pd.DataFrame, metric: str = "best", reference: pd.DataFrame | None = None,
                title: str | None = None) -> go.Figure:
    """Each attention variant's AUROC gain over DifferNet (attention "none") in points, mean +- std over the
    seeds both ran. With `reference`, the papers' gains (best AttentDifferNet minus DifferNet, from the same
    paper) are drawn as diamonds on the dataset's "mean" category."""
    metric = _metric(metric)
    fig = go.Figure()
    if summary is not None and not summary.empty:
        summary = summary.reset_index(drop=True)
        labels = _category_labels(summary)
        variants = summary[(summary["attention"] != BASELINE) & summary[f"gain_{metric}_mean"].notna()]
        for attention in variants["attention"].drop_duplicates():
            rows = variants.index[variants["attention"] == attention]
            fig.add_trace(_spread_bar(summary, rows, labels, f"gain_{metric}", "n_paired", attention,
                                      f"{attention} - none, measured", "%{y:+.2f} points (paired seeds %{customdata})"))
        if reference is not None and not reference.empty:
            multi = summary["dataset"].nunique() > 1
            for dataset in summary.loc[summary["category"] == MEAN_CATEGORY, "dataset"].drop_duplicates():
                ref = reference[(reference["dataset"] == dataset) & (reference["category"] == MEAN_CATEGORY)]
                for _paper, rows in ref.groupby("paper"):
                    base = rows[rows["method"] == "differnet"]
                    for _, row in rows[rows["method"] != "differnet"].iterrows():
                        if base.empty:
                            continue
                        label = f"{dataset}/{MEAN_CATEGORY}" if multi else MEAN_CATEGORY
                        fig.add_trace(go.Scatter(
                            x=[label], y=[100 * (row["auroc"] - base["auroc"].iloc[0])], mode="markers",
                            marker=dict(symbol="diamond", size=12, color="black"),
                            name=f"paper: {row['method']} - differnet ({dataset})"))
        fig.update_xaxes(categoryorder="array", categoryarray=_category_order(summary))
    fig.update_layout(title=title or f"Gain over DifferNet (AUROC {metric}, points, mean +- std over seeds)",
                      barmode="group", template="plotly_white", yaxis_title="AUROC gain (points)")
    if not fig.data:
        return nothing_to_plot(fig, "No gain to show: it needs DifferNet (attention none) and an attention "
                                    "variant<br>measured on the same category and seed.")
    fig.add_hline(y=0, line_color="gray")
    return fig


def time_memory_bars(results: pd.DataFrame, title: str = "Speed and memory per run") -> go.Figure:
    """Training and test throughput (source images per second) and peak resident memory of each finished run."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("train images / s", "test images / s", "peak RSS (MB)"))
    if results is not None and not results.empty:
        runs = results
        if "status" in runs:
            runs = runs[runs["status"].fillna("ok") == "ok"]
        runs = runs.reset_index(drop=True)
        if not runs.empty:
            names = (runs["dataset"].astype(str) + "/" + runs["category"].astype(str) + " "
                     + runs["attention"].astype(str) + " s" + runs["seed"].astype(str))
            for col, key in enumerate(("train_images_per_s", "test_images_per_s", "peak_rss_mb"), start=1):
                if key not in runs:
                    continue
                fig.add_trace(go.Bar(x=names, y=pd.to_numeric(runs[key], errors="coerce"), showlegend=False,
                                     marker_color=[variant_color(a) for a in runs["attention"].astype(str)],
                                     name=key), row=1, col=col)
    fig.update_layout(title=title, template="plotly_white")
    return fig


def gain_intervals(paired: pd.DataFrame, pairs: pd.DataFrame | None = None,
                   title: str = "Is the difference real? Gain over DifferNet with 95% intervals") -> go.Figure:
    """Each variant's mean paired gain (points) with its 95% interval (adnkit.evaluation.verdict.gain_verdict; none
    below
    its minimum of units), one row per variant and metric (last, best, val-selected), and the single pairs
    (category, seed) as small dots behind it.

    `paired` is adnkit.evaluation.verdict.paired_gains' table (the "all datasets" rows are used when there are several
    datasets, else the dataset's own); `pairs` is adnkit.evaluation.verdict.pair_table's (optional)."""
    fig = go.Figure()
    if paired is not None and not paired.empty:
        every = paired["dataset"] == "all datasets"
        rows = paired[every] if paired["dataset"].nunique() > 2 else paired[~every]
        labels = rows["variant"].astype(str) + " (" + rows["metric_label"].astype(str) + ")"
        if pairs is not None and not pairs.empty:
            label_of = dict(zip(zip(rows["variant"], rows["metric"], strict=True), labels, strict=True))
            dots = pairs[[(v, m) in label_of for v, m in zip(pairs["variant"], pairs["metric"], strict=True)]]
            fig.add_trace(go.Scatter(
                x=100 * dots["gain"].astype(float), y=[label_of[(v, m)] for v, m in
                                                       zip(dots["variant"], dots["metric"], strict=True)],
                mode="markers", marker=dict(size=6, color="rgba(120,120,120,0.5)"), name="one pair (category, seed)",
                text=dots["category"].astype(str) + " seed " + dots["seed"].astype(str),
                hovertemplate="%{text}: %{x:+.2f} points<extra></extra>"))
        mean = 100 * rows["gain_mean"].astype(float)
        fig.add_trace(
            go.Scatter(
                x=mean,
                y=labels,
                mode="markers",
                marker=dict(size=12, color="black", symbol="diamond"),
                name="mean gain, 95% interval",
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=(100 * rows["gain_ci_high"].astype(float) - mean).fillna(0),
                    arrayminus=(mean - 100 * rows["gain_ci_low"].astype(float)).fillna(0),
                ),
                text=rows["sentence"],
                hovertemplate="%{text}<extra></extra>",
            )
        )
        fig.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(labels))[::-1])
    fig.add_vline(x=0, line_color="gray")
    fig.update_layout(title=title, template="plotly_white", xaxis_title="AUROC gain over DifferNet (points)",
                      height=max(320, 60 + 40 * (0 if paired is None else len(paired))))
    return fig
