"""Summary of a one-axis sweep run by `adnkit bench --grid FIELD=...`: AUROC against cost, per value of FIELD.

The sweeps of issue 14 are ordinary benchmarks (the runs, their reuse and their report are benchmark's):

    adnkit bench --data elpv:mono elpv:poly --attention none --seeds 3 --preset cpu \
        --grid feature_cache_views=0,8,16,64 --executor ray --cpus-per-run 1 --out runs/sweep-cache
    python benchmarks/sweep_summary.py runs/sweep-cache --field feature_cache_views --baseline 16 \
        --out benchmarks/results/sweep-cache-cpu-elpv.json

Per dataset and value: runs, mean +- std of auroc_last / auroc_best / auroc_val_selected over seeds, mean
train / eval / total seconds of a run; and the gain of each value over --baseline, paired on (dataset, category,
seed), with its interval and verdict (adnkit.evaluation.verdict.paired_gains: the categories, or one category's
seeds, are
the units), per dataset and over all datasets, and every single pair (so that a verdict can be recomputed from
the JSON alone). Several
bench folders may be given (e.g. one per scales value); their rows are pooled; a field a folder held fixed is
read from its bench.json. --field may name several columns (image_size scales), and --baseline then gives one
value per column. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from jsonout import emit

from adnkit.evaluation.summary import summarize
from adnkit.evaluation.verdict import ALL_DATASETS, pair_table, paired_gains

METRICS = ("auroc_last", "auroc_best", "auroc_val_selected")
COST = ("train_seconds", "eval_seconds", "total_seconds", "peak_rss_mb")


def read_results(folders: list[str], fields: list[str]) -> pd.DataFrame:
    """The ok rows of each bench folder's results.csv; a field the folder held fixed (no column) takes the value
    of the folder's base config (bench.json)."""
    frames = []
    for folder in folders:
        table = pd.read_csv(Path(folder) / "results.csv")
        base = json.loads((Path(folder) / "bench.json").read_text())["base_config"]
        for field in fields:
            if field not in table.columns:
                if field not in base:
                    raise SystemExit(f"{folder}: neither results.csv nor bench.json holds {field!r}; check --field")
                table[field] = base[field]
        frames.append(table[table["status"] == "ok"])
    table = pd.concat(frames, ignore_index=True)
    for field in fields:
        table[field] = table[field].astype(str)
    table["total_seconds"] = table["train_seconds"] + table["eval_seconds"]
    return table


def per_value(table: pd.DataFrame, fields: list[str]) -> list[dict]:
    """adnkit.evaluation.summary.summarize per value of the fields (AUROC mean +- std over seeds, last / best /
    selected on
    validation), one row per (dataset, category, values), with the mean seconds and memory of a run added."""
    keys = ["dataset", "category", *fields]
    summary = summarize(table, variant_cols=fields)
    summary = summary[summary["category"] != "mean"]
    cost = table.groupby(keys, sort=False)[list(COST)].mean().add_suffix("_mean").reset_index()
    rows = summary[[*keys, "n_seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))]].merge(cost, on=keys)
    rows = rows.rename(columns={"n_seeds": "runs"}).astype(object)
    return rows.where(rows.notna(), None).to_dict(orient="records")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="bench output folders (results.csv)")
    parser.add_argument("--field", nargs="+", required=True, help="the grid column(s) swept")
    parser.add_argument("--baseline", nargs="+", required=True, help="the value(s) the others are compared with")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if len(args.baseline) != len(args.field):
        raise SystemExit(f"--baseline needs one value per --field ({len(args.field)}); got {len(args.baseline)}")
    table = read_results(args.folders, args.field)
    baseline = dict(zip(args.field, args.baseline, strict=True))
    gains = paired_gains(table, baseline=baseline, by=args.field, metrics=list(METRICS))
    keep = ["dataset", *args.field, "metric", "n_pairs", "n_units", "unit", "gain_mean", "gain_ci_low",
            "gain_ci_high", "wins", "ties", "losses", "verdict", "sentence"]
    pairs = pair_table(table, baseline=baseline, by=args.field, metrics=list(METRICS))
    result = dict(benchmark="sweep_summary", folders=args.folders, fields=args.field, baseline=baseline,
                  n_runs=len(table), per_value=per_value(table, args.field),
                  paired_vs_baseline=gains[keep].to_dict(orient="records"),
                  pairs=pairs.drop(columns=["variant", "baseline"]).to_dict(orient="records"),
                  all_datasets_label=ALL_DATASETS)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
