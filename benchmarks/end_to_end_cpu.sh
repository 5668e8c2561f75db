#!/usr/bin/env bash
# One paper-preset run at 256 px on a real category, before and after the fast paths of issue 14, on the same
# machine at the same time (one CPU thread each), so that both see the same load:
#   before: float32 flow, the per-parameter Adam loop, float32 backbone (the kit before issue 14)
#   after:  the defaults (bf16 Linear layers on CPUs with native bf16, fused Adam; the backbone stays float32)
# The recipe is the papers' flow (8 GLOW blocks, 2048-wide subnets, 3 scales) at 256 px, shortened to
# 4 x 3 epochs with 4 train and 16 test rotations, batch 24, seed 0, 16 cached views per training image (the
# paper preset's value when issue 14 was filed; the paper preset now draws fresh rotations, 0).
#
# Usage: benchmarks/end_to_end_cpu.sh [DATA] [OUT_JSON] [TRAIN FLAGS...]
#   default elpv:mono, benchmarks/results/end-to-end-cpu.json; extra `adnkit train` flags override the recipe
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-elpv:mono}
OUT=${2:-benchmarks/results/end-to-end-cpu.json}
EXTRA=("${@:3}")
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
WORK=$(mktemp -d)
COMMON=(--preset paper --data "$DATA" --image-size 256 --scales 3 --meta-epochs 4 --sub-epochs 3 --train-transforms 4
        --test-transforms 16 --batch-size 24 --seed 0 --feature-cache-views 16 --device cpu --quiet)
run() {  # name, extra flags...
  local name=$1; shift
  local start; start=$(date +%s%N)
  OMP_NUM_THREADS=1 "$PY" -m adnkit train --out "$WORK/$name" "${COMMON[@]}" "${EXTRA[@]}" "$@" > "$WORK/$name.log" 2>&1
  echo $(( $(date +%s%N) - start )) > "$WORK/$name.wall"  # nanoseconds
}
echo "end to end: $DATA, paper flow at 256 px, before and after, one thread each ($(date -u +%FT%TZ))"
run before --flow-precision fp32 --optimizer-impl plain --cpu-bf16-backbone off &
run after &
wait
"$PY" - "$WORK" "$OUT" "$DATA" <<'EOF'
import json, sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from jsonout import emit
from adnkit.runs.folder import Run
work, out, data = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
doc = dict(benchmark="end_to_end_cpu", data=data, threads_each=1, runs={})
for name in ("before", "after"):
    m = Run(work / name).read_metrics().to_dict()
    doc["runs"][name] = dict(wall_s=int((work / f"{name}.wall").read_text()) / 1e9, auroc_last=m["auroc_last"],
                             auroc_best=m["auroc_best"], train_seconds=m["train_seconds"],
                             eval_seconds=m["eval_seconds"], fast_path=m["fast_path"], n_train=m["n_train"],
                             n_test=m["n_test"], peak_rss_mb=m["peak_rss_mb"])
before, after = doc["runs"]["before"], doc["runs"]["after"]
doc["speedup_wall"] = before["wall_s"] / after["wall_s"]
doc["speedup_train"] = before["train_seconds"] / after["train_seconds"]
doc["auroc_last_after_minus_before"] = after["auroc_last"] - before["auroc_last"]
emit(doc, out)
EOF
rm -rf "$WORK"
