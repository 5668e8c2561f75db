"""Sweeps of issue 14 at the cpu preset: AUROC and cost against feature_cache_views, and against image_size x scales.

  cache   feature_cache_views 0 (fresh random rotations every step, as the original code) / 8 / 16 / 64
  size    image_size 160 / 224 / 256 / 320 x scales 2 / 3
each over --seeds on every --data spec, every run at the cpu preset otherwise (its fast path at the automatic
settings). One row per run: the settings, auroc_last, auroc_best, train/eval seconds, wall seconds, peak RSS;
then per setting the mean and spread over seeds. Prints one JSON document (and writes it with --out); rows are
also appended to --out's .jsonl as they finish, so an interrupted sweep keeps what it measured.

    python benchmarks/sweep_cpu_preset.py --sweep cache --data elpv:mono elpv:poly --seeds 0 1 2 \
        --out benchmarks/results/sweep-cache-cpu.json
    python benchmarks/sweep_cpu_preset.py --sweep size --data elpv:mono synthetic:small-defects --seeds 0 1 2 \
        --out benchmarks/results/sweep-size-cpu.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jsonout import emit

from adnkit.config import preset
from adnkit.train import run_training

SWEEPS = {
    "cache": [dict(feature_cache_views=v) for v in (0, 8, 16, 64)],
    "size": [dict(image_size=s, scales=k) for s, k in itertools.product((160, 224, 256, 320), (2, 3))],
}
KEEP = ("auroc_last", "auroc_best", "train_seconds", "eval_seconds", "peak_rss_mb", "n_train", "n_test",
        "feature_cache", "fast_path")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", choices=sorted(SWEEPS), required=True)
    parser.add_argument("--data", nargs="+", default=["elpv:mono"])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-train-images", type=int, default=0)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    log = Path(args.out).with_suffix(".jsonl") if args.out else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data, settings, seed in itertools.product(args.data, SWEEPS[args.sweep], args.seeds):
            cfg = preset(args.preset, data=data, data_root=args.data_root, seed=seed,
                         max_train_images=args.max_train_images, **settings)
            t0 = time.perf_counter()
            metrics = run_training(cfg, Path(tmp) / f"run{len(rows)}", progress=False)
            row = dict(data=data, seed=seed, **settings, wall_s=time.perf_counter() - t0,
                       **{k: metrics[k] for k in KEEP})
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if log:
                with log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    summary = []
    for data, settings in itertools.product(args.data, SWEEPS[args.sweep]):
        same = [r for r in rows if r["data"] == data and all(r[k] == v for k, v in settings.items())]
        aurocs = [r["auroc_last"] for r in same]
        summary.append(dict(data=data, **settings, seeds=len(same), auroc_last_mean=statistics.mean(aurocs),
                            auroc_last_spread=max(aurocs) - min(aurocs),
                            wall_s_mean=statistics.mean(r["wall_s"] for r in same)))
    result = dict(benchmark="sweep_cpu_preset", sweep=args.sweep, preset=args.preset, rows=rows, summary=summary)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
