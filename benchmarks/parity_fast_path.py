"""AUROC parity of the fast path: the same runs (preset, data, seeds) with the float32 / plain-Adam path and
with bf16 Linear layers + fused (or foreach) Adam; prints per-seed AUROCs, their differences and the times.

    python benchmarks/parity_fast_path.py --preset cpu --data elpv:mono --max-train-images 120 --seeds 0 1 2 \
        --out benchmarks/results/parity-fast-path-cpu-elpv-mono.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from jsonout import emit, finite, require

from adnkit.config.settings import preset
from adnkit.training.trainer import train

PATHS = {
    "fp32-plain": dict(flow_precision="fp32", optimizer_impl="plain", compile_flow="off"),
    "fast": dict(flow_precision="bf16", optimizer_impl="auto", compile_flow="off"),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--data", default="elpv:mono")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--max-train-images", type=int, default=120)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row = dict(seed=seed)
            for name, settings in PATHS.items():
                cfg = preset(args.preset, data=args.data, data_root=args.data_root, seed=seed,
                             max_train_images=args.max_train_images, **settings)
                m = train(cfg, Path(tmp) / f"{name}-{seed}", progress=False)
                require(m["n_test"] > 0 and finite(m["auroc_last"]),
                        f"{name} seed {seed}: {m['n_test']} test images, AUROC {m['auroc_last']}")
                row[name] = {k: m[k] for k in ("auroc_last", "auroc_best", "train_seconds", "eval_seconds",
                                               "fast_path", "n_train", "n_test")}
                print(json.dumps({name: row[name], "seed": seed}), file=sys.stderr, flush=True)
            row["auroc_last_diff"] = row["fast"]["auroc_last"] - row["fp32-plain"]["auroc_last"]
            row["auroc_best_diff"] = row["fast"]["auroc_best"] - row["fp32-plain"]["auroc_best"]
            runs.append(row)
    diffs = [r["auroc_last_diff"] for r in runs]
    result = dict(benchmark="parity_fast_path", preset=args.preset, data=args.data,
                  max_train_images=args.max_train_images, threads=torch.get_num_threads(), runs=runs,
                  mean_auroc_last_diff=statistics.mean(diffs), max_abs_auroc_last_diff=max(abs(d) for d in diffs),
                  seed_spread_fp32_auroc_last=(max(r["fp32-plain"]["auroc_last"] for r in runs)
                                               - min(r["fp32-plain"]["auroc_last"] for r in runs)))
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
