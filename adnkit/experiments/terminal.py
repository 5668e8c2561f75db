"""What `adnkit bench`, `demo` and `study` print: the summary as a compact table and the verdicts, in the same
words as the report."""

from __future__ import annotations

import json
import math

import pandas as pd

from adnkit.core.formatting import pm
from adnkit.evaluation.summary import BEST_NOTE, summary_display, without_repeated_means
from adnkit.evaluation.verdict import ONE_SEED, verdict_lines


def format_summary(summary: pd.DataFrame, results: pd.DataFrame | None = None) -> str:
    """The summary (adnkit.evaluation.summary.summarize) as a compact text table: AUROC last and best in percent,
    mean +- std
    over seeds, and the gain of the last AUROC over DifferNet. A dataset's "mean" rows are left out when it has one
    category (they would repeat it); with `results`, a one-seed cell shows its run's 95% test-set interval."""
    if summary is None or summary.empty:
        return "No finished runs to summarise."
    summary = without_repeated_means(summary)
    table = summary_display(summary, pm, gains=("last",), gain_label="gain {} (points)",
                            columns=("auroc_last", "auroc_best"))
    intervals = _run_intervals(results)
    if intervals:
        keys = zip(summary["dataset"], summary["category"], summary["attention"], summary["n_seeds"], strict=True)
        table["AUROC last (%)"] = [text + intervals.get((d, c, a), "") if n == 1 else text
                                   for text, (d, c, a, n) in zip(table["AUROC last (%)"], keys, strict=True)]
    lines = [
        "Image AUROC (%), mean +- std over seeds; [95% test-set interval] for a single run",
        table.to_string(index=False),
        "last = the final model; " + BEST_NOTE.split(";")[0] + " (optimistic); gain = minus DifferNet, same seeds.",
    ]
    return "\n".join(lines)


def _run_intervals(results: pd.DataFrame | None) -> dict:
    """(dataset, category, attention) -> " [low, high]" of a run's auroc_last_ci, for one-run cells."""
    if results is None or "auroc_last_ci" not in results:
        return {}
    ok = results[results["status"] == "ok"] if "status" in results else results
    out = {}
    for row in ok.itertuples():
        low, high = json.loads(row.auroc_last_ci) if isinstance(row.auroc_last_ci, str) else (math.nan, math.nan)
        if math.isfinite(low):
            out[(row.dataset, row.category, row.attention)] = f" [{100 * low:.1f}, {100 * high:.1f}]"
    return out


def one_seed_conclusion(results: pd.DataFrame) -> str:
    """What one seed per variant may be taken to say: each variant's difference from DifferNet beside the width of a
    run's 95% test-set interval ("" when there is no single-seed comparison to describe)."""
    ok = results[results["status"] == "ok"] if "status" in results else results
    if ok.empty or "auroc_last_ci" not in ok or ok.groupby(["dataset", "category", "attention"]).size().max() > 1:
        return ""
    parts, widths, largest = [], [], 0.0
    for (dataset, category), cell in ok.groupby(["dataset", "category"], sort=False):
        base = cell[cell["attention"] == "none"]
        if base.empty or len(cell) < 2:
            continue
        value = float(base["auroc_last"].iloc[0])
        gains = [(a, float(v) - value) for a, v in zip(cell["attention"], cell["auroc_last"], strict=True)
                 if a != "none"]
        parts.append(f"{dataset} {category}: DifferNet {100 * value:.1f}%, "
                     + ", ".join(f"{a} {100 * g:+.1f}" for a, g in gains))
        widths += [high - low for low, high in (json.loads(ci) for ci in cell["auroc_last_ci"] if isinstance(ci, str))
                   if math.isfinite(low)]
        largest = max([largest, *(abs(g) for _, g in gains)])
    if not parts or not widths:
        return ""
    width = 100 * sum(widths) / len(widths)
    interval = f"a run's own 95% test-set interval (about {width:.0f} points wide)"
    judged = (f"every difference is smaller than half of {interval}" if 100 * largest < width / 2
              else f"some differences exceed half of {interval}, but another seed moves a run too")
    return (f"One seed each ({'; '.join(parts)} points): {judged}, so this cannot say whether attention helps; "
            "`adnkit bench ... --seeds 3` gives a verdict.")


VERDICTS_HEADING = "Is the difference real? (AUROC last; paired by category and seed)"


def the_answer(paired: pd.DataFrame, results: pd.DataFrame | None = None) -> tuple[str, list[str]]:
    """Is each variant's gain over DifferNet real? (heading, lines): VERDICTS_HEADING and
    adnkit.evaluation.verdict.verdict_lines for the last AUROC (best and val-selected are in paired.csv and the
    report); with `results`, one seed per variant gives instead no heading and the one sentence of what a student
    may conclude from it (one_seed_conclusion). The terminal's last lines and the report's first."""
    lines = verdict_lines(paired)
    conclusion = one_seed_conclusion(results) if results is not None and lines == [ONE_SEED] else ""
    return ("", [conclusion]) if conclusion else (VERDICTS_HEADING, lines)


def format_paired(paired: pd.DataFrame, results: pd.DataFrame | None = None) -> str:
    """the_answer as the terminal prints it."""
    heading, lines = the_answer(paired, results)
    return "\n".join([heading, *(f"- {line}" for line in lines)]) if heading else "\n".join(lines)
