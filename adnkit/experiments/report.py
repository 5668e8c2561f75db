"""One self-contained HTML page for a benchmark folder (written by adnkit.experiments.bench.benchmark).

The page opens offline: plotly.js is embedded once, with the first figure, and every other figure reuses it.
It opens with the answer (the summary table and the verdicts, in the terminal's words), then the figures: AUROC
per category beside the papers' numbers, gain over DifferNet, the paired intervals, ROC curves per category,
score histograms per run, training curves, time and memory, failed runs, and how "best" is chosen.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from adnkit.core.formatting import pm
from adnkit.core.version import __version__
from adnkit.evaluation.published import COLUMNS as REFERENCE_COLUMNS
from adnkit.evaluation.published import reference_for
from adnkit.evaluation.run_metrics import summarised_metrics
from adnkit.evaluation.summary import MEAN_CATEGORY, summarize, summary_display, without_repeated_means
from adnkit.evaluation.verdict import MIN_UNITS, pair_table, verdict_lines
from adnkit.experiments.folder import BenchFolder
from adnkit.experiments.grid import value_text
from adnkit.experiments.tables import paired_table
from adnkit.experiments.terminal import the_answer
from adnkit.figures import plots as viz
from adnkit.runs.folder import Run

BEST_EXPLAINED = (
    "The test set is scored after every evaluation (each meta epoch). <b>last</b> is the AUROC of the final "
    "model. <b>best</b> is the maximum over all evaluations, i.e. chosen on the test set itself: this is how "
    "DifferNet and AttentDifferNet print their numbers, so it is the one to compare with the papers, but it is "
    "optimistic; <b>last</b> is the honest number for a model you would deploy, and <b>val-selected</b> is the "
    "AUROC at the evaluation with the lowest validation loss (held-out good training images), chosen without "
    "test labels. Means and spreads are over "
    "seeds (sample std); a gain is variant minus DifferNet (attention none) per seed, on the seeds both ran."
)

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.note { background: #f7f7e8; border-left: 4px solid #cc9; padding: 0.5em 1em; }
.answer { background: #eef4fb; border-left: 4px solid #6a9fd4; padding: 0.5em 1em; font-size: 1.05em; }
.muted { color: #777; } nav a { margin-right: 1em; } details { margin: 0.5em 0; }
"""

SECTIONS = [
    ("summary", "Summary"),
    ("real", "Is the difference real?"),
    ("best", "How best is chosen"),
    ("categories", "AUROC per category and the papers"),
    ("gain", "Gain over DifferNet"),
    ("roc", "ROC curves"),
    ("histograms", "Score histograms"),
    ("training", "Training curves"),
    ("speed", "Time and memory"),
    ("failed", "Failed runs"),
]


class _Figures:
    """Turns figures into HTML fragments, embedding plotly.js in the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure) -> str:
        first = self.count == 0
        self.count += 1
        return fig.to_html(full_html=False, include_plotlyjs=True if first else False,
                           config={"displaylogo": False, "responsive": True})

    def plotlyjs(self) -> str:
        """plotly.js as a script tag if no figure has embedded it yet, else ''."""
        if self.count:
            return ""
        self.count += 1
        return f"<script type='text/javascript'>{get_plotlyjs()}</script>"


def _esc(text) -> str:
    return html.escape(str(text))


def _run_label(row) -> str:
    return f"{row['attention']} seed{row['seed']}"


def _pct(mean, std=None, signed=False) -> str:
    return pm(mean, std, signed=signed, sep=" &plusmn; ")


def _summary_table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "<p>No finished runs yet.</p>"
    shown = summary_display(summary, _pct, gains=("last", "best"), gain_label="gain {} (points)", paired=True,
                            columns=("auroc_last", "auroc_best", "auroc_val_selected", *summarised_metrics()))
    return shown.to_html(index=False, escape=False, border=0)


def _reference_table(reference: pd.DataFrame) -> str:
    if reference.empty:
        return "<p class='muted'>No published numbers for the datasets in this benchmark.</p>"
    shown = reference.assign(auroc=(100 * reference["auroc"]).map("{:.2f}".format))
    return shown.rename(columns={"auroc": "AUROC (%)"}).to_html(index=False, border=0)


def _load_runs(folder: BenchFolder, ok: pd.DataFrame) -> tuple[dict, dict, list[str]]:
    """history and scores tables of each finished run, keyed by the results row's index; and problems."""
    histories, scores, problems = {}, {}, []
    for idx, row in ok.iterrows():
        run = Run(folder.run_path(row["run_dir"]))
        hist = run.read_history()
        if hist is not None:
            histories[idx] = hist
        else:
            problems.append(f"{run.path.name}: no readable training history")
        sc = run.read_scores()
        if sc is not None and "label" in sc.columns:
            scores[idx] = sc
        else:
            problems.append(f"{run.path.name}: no readable test scores with labels")
    return histories, scores, problems


def _threshold(folder: BenchFolder, row) -> float | None:
    value = row.get("threshold") if hasattr(row, "get") else None
    if value is None or pd.isna(value):
        metrics = Run(folder.run_path(row["run_dir"])).read_metrics(missing_ok=True)
        if metrics is None:
            return None
        value = metrics.threshold
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


REAL_EXPLAINED = (
    "A pair is one category and seed that both the variant and DifferNet ran: same test set, same seed, so the "
    "gain removes what they share. Seeds of one category share its test set, so they are averaged first and the "
    "categories are the units (with one category, its seeds are). The interval is a 95% t-interval over the "
    f"units, given from {MIN_UNITS} units on; the verdict is <b>a gain</b> or <b>a loss</b> when the interval "
    "excludes 0, <b>no difference shown</b> when it holds 0, and <b>too few to tell</b> below "
    f"{MIN_UNITS} units. Simulated benches with a known answer check that it is wrong at most 5% of the time "
    "(docs/benchmarks.md)."
)


def _difference_section(results: pd.DataFrame, fig, grid_cols=()) -> str:
    """The paired comparisons: the same lines as the terminal, the interval figure with the single pairs, and
    every metric's sentence."""
    paired = paired_table(results, grid_cols)
    lines = "".join(f"<li>{_esc(s)}</li>" for s in verdict_lines(paired))
    if paired.empty:
        return f"<ul>{lines}</ul>"
    pairs = pair_table(results) if not grid_cols else None  # the single pairs only without grid variants
    figure = fig(viz.gain_intervals(paired, pairs))
    items = "".join(f"<li>{_esc(s)}</li>" for s in paired["sentence"])
    return (f"<ul>{lines}</ul><p class='note'>{REAL_EXPLAINED}</p>{figure}"
            f"<details><summary>Every metric (last, best, val-selected)</summary><ul>{items}</ul></details>")


def _with_grid_label(frame: pd.DataFrame, grid_cols: list[str]) -> pd.DataFrame:
    """attention + the grid values ("se attention_site=pool"), so that figures keyed by attention keep the
    variants of a bench --grid apart; unchanged without grid columns."""
    if not grid_cols or frame.empty:
        return frame
    label = frame["attention"].astype(str)
    for col in grid_cols:
        label = label + " " + col + "=" + frame[col].map(lambda v: value_text(v) if not pd.isna(v) else "")
    return frame.assign(attention=label)


class _Page:
    """The report being built: the benchmark's tables, the figures (plotly.js embedded once) and the sections."""

    def __init__(self, folder: BenchFolder, extra_sections):
        self.folder = folder
        results = _with_defaults(folder.read_results())
        self.results = results
        self.ok = results[results["status"] == "ok"]
        self.failed = results[results["status"] == "failed"]
        self.pending = results[~results["status"].isin(["ok", "failed"])]
        self.grid_cols = [c for c in folder.grid_columns() if c in results.columns]
        self.summary = summarize(results, variant_cols=self.grid_cols)
        self.fig = _Figures()
        self.sections = list(SECTIONS[:2]) + [(k, t) for k, t, _ in extra_sections] + list(SECTIONS[2:])
        self.extra = {k: body for k, _, body in extra_sections}
        self.parts: list[str] = []

    def section(self, key: str, body: str) -> None:
        title = dict(self.sections)[key]
        self.parts.append(f"<section id='{key}'><h2>{_esc(title)}</h2>\n{body}\n</section>")

    def html(self) -> str:
        nav = " ".join(f"<a href='#{k}'>{_esc(t)}</a>" for k, t in self.sections)
        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<title>adnkit benchmark: {_esc(self.folder.path.name)}</title><style>{_CSS}</style></head><body>\n"
                f"<h1>adnkit benchmark report</h1><p class='muted'>{_esc(self.folder.path)} &middot; adnkit "
                f"{_esc(__version__)} &middot; written {_esc(time.strftime('%Y-%m-%d %H:%M'))}</p>\n"
                f"<nav>{nav}</nav>\n" + "\n".join(self.parts) + "\n</body></html>\n")


def _with_defaults(results: pd.DataFrame) -> pd.DataFrame:
    """results.csv with status, reason and run_dir present and the name columns as text."""
    for col, default in (("status", "ok"), ("reason", ""), ("run_dir", "")):
        if col not in results:
            results[col] = default
    results["status"] = results["status"].astype(object).fillna("ok").astype(str)  # an all-empty column reads as float
    results["reason"] = results["reason"].astype(object).fillna("").astype(str)
    for col in ("dataset", "category", "attention"):
        if col in results:
            results[col] = results[col].astype(str)
    return results


def _published(page: _Page) -> pd.DataFrame:
    """The papers' numbers for the datasets measured here: only the categories measured, and each dataset's mean."""
    datasets = list(dict.fromkeys(page.results["dataset"])) if "dataset" in page.results else []
    frames = [f for f in (reference_for(d) for d in datasets) if not f.empty]
    reference = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REFERENCE_COLUMNS)
    measured = set(zip(page.ok["dataset"], page.ok["category"], strict=True)) if not page.ok.empty else set()
    keep = [(d, c) in measured or c == MEAN_CATEGORY
            for d, c in zip(reference["dataset"], reference["category"], strict=True)]
    return reference[keep].reset_index(drop=True)


def _summary_section(page: _Page) -> None:
    counts = (f"{len(page.results)} runs: {len(page.ok)} finished, {len(page.failed)} failed"
              + (f", {len(page.pending)} not run yet" if len(page.pending) else ""))
    heading, lines = the_answer(paired_table(page.ok, page.grid_cols), page.ok) if not page.ok.empty else ("", [])
    answer = (f"<div class='answer'>{f'<b>{_esc(heading)}</b>' if heading else ''}"
              + "".join(f"<p>{_esc(line)}</p>" for line in lines) + "</div>") if lines else ""
    body = answer + f"<p>{_esc(counts)}.</p>" + _summary_table(without_repeated_means(page.summary))
    matrix = page.folder.read_matrix()
    if matrix:
        body += ("<details><summary>Matrix and base settings (bench.json)</summary><pre>"
                 + _esc(json.dumps(matrix, indent=2)) + "</pre></details>")
    page.section("summary", body)


def _category_sections(page: _Page, summary: pd.DataFrame, reference: pd.DataFrame) -> None:
    """AUROC per category beside the papers' numbers, and the gain over DifferNet."""
    fig = page.fig
    if summary.empty:
        body = "<p>No finished runs to plot.</p>"
    else:
        body = fig(viz.category_bars(summary, reference, metric="best"))
        body += fig(viz.category_bars(summary, None, metric="last",
                                      title="Image AUROC per category (last: mean +- std over seeds)"))
        if summary["auroc_val_selected_mean"].notna().any():
            body += fig(viz.category_bars(summary, None, metric="val_selected", title=(
                "Image AUROC per category (val-selected: lowest validation loss, mean +- std over seeds)")))
    page.section("categories", body + "<h3>Published numbers</h3>" + _reference_table(reference))
    has_gain = not summary.empty and summary["gain_best_mean"].notna().any()
    page.section("gain", fig(viz.gain_figure(summary, metric="best", reference=reference)) if has_gain else
                 "<p>No gains to show: a gain needs attention none and another variant on the same seed.</p>")


def _per_run_sections(page: _Page, ok: pd.DataFrame) -> None:
    """ROC curves and training curves per category, the score histogram of every run."""
    fig = page.fig
    histories, scores, problems = _load_runs(page.folder, ok)
    groups = list(ok.groupby(["dataset", "category"], sort=False)) if not ok.empty else []
    roc_parts, hist_parts, train_parts = [], [], []
    for (dataset, category), rows in groups:
        name = f"{dataset} / {category}"
        curves = {_run_label(row): (scores[i]["label"], scores[i]["score"]) for i, row in rows.iterrows()
                  if i in scores}
        if curves:
            roc_parts.append(fig(viz.roc_figure(curves, title=f"ROC: {name}")))
        hists = []
        for i, row in rows.iterrows():
            if i in scores:
                h = viz.score_histogram(scores[i]["label"], scores[i]["score"], threshold=_threshold(page.folder, row),
                                        title=f"{name}: {_run_label(row)}")
                h.update_layout(width=760, height=340)
                hists.append(fig(h))
        if hists:
            hist_parts.append(f"<details{' open' if len(groups) <= 2 else ''}><summary>{_esc(name)} "
                              f"({len(hists)} runs)</summary>{''.join(hists)}</details>")
        frames = {_run_label(row): histories[i] for i, row in rows.iterrows() if i in histories}
        if frames:
            train_parts.append(fig(viz.training_curves(frames, title=f"Training: {name}")))
    note = "".join(f"<li>{_esc(p)}</li>" for p in problems)
    note = f"<ul class='muted'>{note}</ul>" if note else ""
    page.section("roc", "".join(roc_parts) + note if roc_parts else "<p>No test scores to draw from.</p>" + note)
    page.section("histograms", ("<p>Scores of the final model; the dashed line is the run's decision threshold "
                                "(its metrics say how it was chosen).</p>" + "".join(hist_parts))
                 if hist_parts else "<p>No test scores to draw from.</p>")
    page.section("training", "".join(train_parts) if train_parts else "<p>No training history to draw from.</p>")


def _speed_and_failures(page: _Page, ok: pd.DataFrame) -> None:
    speed_cols = [c for c in ("dataset", "category", "attention", "seed", "train_seconds", "eval_seconds",
                              "train_images_per_s", "test_images_per_s", "peak_rss_mb", "device") if c in ok]
    if ok.empty or not any(c in ok for c in ("train_images_per_s", "test_images_per_s", "peak_rss_mb")):
        page.section("speed", "<p>No timing recorded.</p>")
    else:
        page.section("speed", page.fig(viz.time_memory_bars(ok))
                     + ok[speed_cols].to_html(index=False, border=0, float_format=lambda v: f"{v:.2f}"))
    if page.failed.empty:
        body = "<p>None.</p>"
    else:
        cols = [c for c in ("dataset", "category", "attention", "seed", "reason", "run_dir") if c in page.failed]
        body = (page.failed[cols].to_html(index=False, border=0)
                + "<p class='muted'>The traceback of each is in its run folder's error.txt. Rerunning the "
                  "same bench command retries them and skips the finished runs.</p>")
    if len(page.pending):
        body += f"<p>{len(page.pending)} cell(s) not run yet (the benchmark was stopped).</p>"
    page.section("failed", body)


def write_report(out_dir, extra_sections=()) -> Path:
    """Build the benchmark folder's report.html from its results.csv and run folders; return its path.

    extra_sections: (key, title, html) added after the answer (e.g. adnkit.experiments.study's "What attention
    does here"); their figures may omit plotly.js, which the page embeds once before them."""
    page = _Page(BenchFolder(out_dir), extra_sections)
    _summary_section(page)
    page.section("real", _difference_section(page.results, page.fig, page.grid_cols))
    for key, body in page.extra.items():
        page.section(key, page.fig.plotlyjs() + body)  # plotly.js (once) before their figures
    page.section("best", f"<p class='note'>{BEST_EXPLAINED}</p>")
    ok = _with_grid_label(page.ok, page.grid_cols)  # figures and run labels tell grid variants apart
    _category_sections(page, _with_grid_label(page.summary, page.grid_cols), _published(page))
    _per_run_sections(page, ok)
    _speed_and_failures(page, ok)
    return page.folder.write_report(page.html())
