"""What `adnkit bench`, `demo` and `study` print: the summary as a compact table and the verdicts, in the same
words as the report."""

from __future__ import annotations

import json
import math

import pandas as pd

from adnkit.core.formatting import pm
from adnkit.evaluation.summary import BEST_NOTE, MEAN_CATEGORY, summary_display
from adnkit.evaluation.verdict import verdict_lines


def format_summary(summary: pd.DataFrame, results: pd.DataFrame | None = None) -> str:
    """The summary (adnkit.evaluation.summary.summarize) as a compact text table: AUROC last and best in percent,
    mean +- std
    over seeds, and the gain of the last AUROC over DifferNet. A dataset's "mean" rows are left out when it has one
    category (they would repeat it); with `results`, a one-seed cell shows its run's 95% test-set interval."""
    if summary is None or summary.empty:
        return "No finished runs to summarise."
    one_category = summary.groupby("dataset")["category"].transform(lambda c: c[c != MEAN_CATEGORY].nunique() == 1)
    summary = summary[~(one_category & (summary["category"] == MEAN_CATEGORY))].reset_index(drop=True)
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


def format_paired(paired: pd.DataFrame) -> str:
    """Is each variant's gain over DifferNet real? adnkit.evaluation.verdict.verdict_lines for the last AUROC (best and
    val-selected are in paired.csv and the report)."""
    return "\n".join(["Is the difference real? (AUROC last; paired by category and seed)",
                      *(f"- {line}" for line in verdict_lines(paired))])
