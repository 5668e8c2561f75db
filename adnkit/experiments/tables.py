"""A benchmark's analysis tables from its results: the summary over seeds with each variant's verdict, and the
paired comparisons, per combination of grid values (each against its own DifferNet)."""

from __future__ import annotations

import pandas as pd

from adnkit.evaluation.summary import MEAN_CATEGORY, per_grid_values, summarize, summary_columns
from adnkit.evaluation.verdict import ALL_DATASETS, PAIRED_COLUMNS, paired_gains


def bench_tables(results: pd.DataFrame, grid_cols=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary with verdicts, paired comparisons) of a results table; empty tables before any run finished."""
    if not results["status"].eq("ok").any():
        return pd.DataFrame(columns=summary_columns()), pd.DataFrame(columns=PAIRED_COLUMNS)
    summary = summarize(results, variant_cols=grid_cols)
    paired = paired_table(results, grid_cols)
    return with_verdicts(summary, paired, grid_cols), paired


def with_verdicts(summary: pd.DataFrame, paired: pd.DataFrame, grid_cols=()) -> pd.DataFrame:
    """The summary with the paired comparison's sentence (is the gain over DifferNet real?) on each variant's
    dataset-mean row, one column per metric: verdict_last, verdict_best, ..."""
    if summary.empty or paired.empty:
        return summary
    summary = summary.copy()
    keys = ["attention", *[c for c in grid_cols if c != "attention"]]
    for row in paired[paired["dataset"] != ALL_DATASETS].itertuples(index=False):
        row = row._asdict()
        hit = (summary["dataset"] == row["dataset"]) & (summary["category"] == MEAN_CATEGORY)
        for key in keys:
            hit &= summary[key].astype(str) == str(row[key])
        summary.loc[hit, f"verdict_{row['metric_label'].replace('-', '_')}"] = row["sentence"]
    return summary


def paired_table(results: pd.DataFrame, grid_cols=()) -> pd.DataFrame:
    """adnkit.evaluation.verdict.paired_gains for every combination of the grid values, each against its own DifferNet
    (attention none with the same grid values), as summarize does; the grid columns follow "variant"."""
    grid_cols = [c for c in grid_cols if c != "attention"]
    if not grid_cols or results is None or results.empty:
        return paired_gains(results)
    parts = []
    for values, part in per_grid_values(results, grid_cols, paired_gains, at=2):
        label = " ".join(f"{c}={v}" for c, v in values.items())
        part["variant"] = part["variant"] + " " + label
        part["sentence"] = f"[{label}] " + part["sentence"]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
