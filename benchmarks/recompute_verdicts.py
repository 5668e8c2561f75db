"""The stored study and sweep results, judged again with adnkit's one verdict (adnkit.evaluation.verdict.gain_verdict).

- study runs tables (`adnkit study attention`'s study_runs.csv, kept as benchmarks/results/study-*-runs.csv):
  adnkit.experiments.study.study_table (per category, its seeds the units) and across_categories (each category one
  unit);
- sweep summaries (benchmarks/sweep_summary.py's JSON): from the single pairs when the JSON holds them. Older
  summaries kept only each cell's mean gain and its percentile-bootstrap interval; for a cell of three pairs
  that interval is exactly the pairs' [min, max] (each extreme is the mean of 1/27 of the resamples, more than
  the 2.5% tail), so the three gains are recovered as min, max and 3 x mean - min - max. Cells pooling several
  categories are judged on the per-category mean gains, from the per-value means.

    python benchmarks/recompute_verdicts.py --study benchmarks/results/study-cpu-elpv-frozen-runs.csv \
        --sweep benchmarks/results/sweep-size-cpu-elpv-mono.json --out benchmarks/results/verdicts-recomputed.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from jsonout import emit, require

from adnkit.evaluation.verdict import gain_sentence, gain_verdict
from adnkit.experiments.study import across_categories, study_table


def study_verdicts(path: Path) -> dict:
    runs = pd.read_csv(path)
    table = study_table(runs)
    rows = table[table["baseline"].fillna("") != ""]
    per_category = [dict(dataset=r.dataset, category=r.category, variant=r.variant, baseline=r.baseline,
                         seeds=int(r.n_paired), gain_points=round(100 * r.gain_last_mean, 2),
                         interval_points=[round(100 * r.gain_last_low, 2), round(100 * r.gain_last_high, 2)]
                         if np.isfinite(r.gain_last_low) else None, verdict=r.verdict)
                    for r in rows.itertuples()]
    return dict(source=str(path), per_category=per_category,
                across_categories=across_categories(runs).drop(columns=["sentence"]).to_dict(orient="records"))


def _recovered_gains(cell: dict) -> list[float] | None:
    """The three gains of a 3-pair cell from its mean and percentile-bootstrap [min, max] (module docstring)."""
    if cell["n_pairs"] != 3 or not np.isfinite(cell.get("gain_ci_low", np.nan)):
        return None
    low, high = cell["gain_ci_low"], cell["gain_ci_high"]
    middle = 3 * cell["gain_mean"] - low - high
    require(low - 1e-9 <= middle <= high + 1e-9, f"cell {cell}: its interval is not the range of three gains")
    return [low, middle, high]


def sweep_verdicts(path: Path) -> dict:
    doc = json.loads(path.read_text())
    fields, baseline = doc["fields"], doc["baseline"]
    per_value = pd.DataFrame(doc["per_value"])
    out = []
    cells = [c for c in doc["paired_vs_baseline"] if c["metric"] == "auroc_last" and c["dataset"] != "all datasets"]
    pairs = pd.DataFrame(doc.get("pairs", []))
    for cell in cells:
        values = {f: str(cell[f]) for f in fields}
        key = dict(dataset=cell["dataset"], **{f: values[f] for f in fields})
        if not pairs.empty:
            mine = pairs[(pairs["metric"] == "auroc_last") & (pairs["dataset"] == cell["dataset"])]
            for f in fields:
                mine = mine[mine[f].astype(str) == values[f]]
            verdict, how = gain_verdict(mine["gain"], mine["category"]), "pairs"
        else:
            rows = per_value[per_value["dataset"] == cell["dataset"]]
            mine = rows.copy()
            base = rows.copy()
            for f in fields:
                mine = mine[mine[f].astype(str) == values[f]]
                base = base[base[f].astype(str) == str(baseline[f])]
            if mine["category"].nunique() > 1:
                merged = mine.merge(base, on="category", suffixes=("", "_base"))
                gains = merged["auroc_last_mean"] - merged["auroc_last_mean_base"]
                verdict, how = gain_verdict(gains, merged["category"]), "per-category mean gains"
            else:
                recovered = _recovered_gains(cell)
                gains = recovered if recovered is not None else [cell["gain_mean"]] * cell["n_pairs"]
                verdict = gain_verdict(gains if cell["n_pairs"] == len(gains) else [cell["gain_mean"]])
                how = "three gains recovered from min/max/mean" if recovered is not None else "mean only"
        name = " ".join(f"{f}={values[f]}" for f in fields)
        base_name = " ".join(f"{f}={baseline[f]}" for f in fields)
        out.append(dict(**key, recomputed_from=how, n_pairs=cell["n_pairs"],
                        before=cell.get("sentence", ""), verdict=verdict["verdict"],
                        sentence=gain_sentence(name, base_name, "last", verdict, dataset=cell["dataset"])))
    return dict(source=str(path), cells=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", nargs="*", default=[], help="study runs CSV files")
    parser.add_argument("--sweep", nargs="*", default=[], help="sweep_summary JSON files")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    require(bool(args.study or args.sweep), "no --study or --sweep file given")
    emit(dict(benchmark="recompute_verdicts", studies=[study_verdicts(Path(p)) for p in args.study],
              sweeps=[sweep_verdicts(Path(p)) for p in args.sweep]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
