#!/usr/bin/env bash
# The attention study (adnkit study attention) at the papers' preset (or PRESET=gpu: 24 epochs instead of 192),
# for a machine with a CUDA GPU.
#
#   14 runs per dataset and seed: DifferNet with and without the batch guard; SE and CBAM after the ReLUs
#   (features 1, 4, 11) and after the max-pools (2, 5, 12), each frozen, trained, and trained + guard
#   (see adnkit/study.py). Finished runs are reused, so an interrupted study continues where it stopped.
#
# Usage: [PRESET=paper|gpu] benchmarks/study_gpu.sh [OUT] [SEEDS] [DATA...]
#   OUT    default runs/study-$PRESET
#   SEEDS  default 3 (seeds 0..SEEDS-1)
#   DATA   default elpv:mono elpv:poly; e.g. mvtec:data/mvtec for all MVTec AD categories
#
# Cost: the paper preset trains for 24 x 8 epochs at 448 px with 3 scales; the frozen variants (6 of 14) use the
# cached-embedding path, the 8 trained ones recompute the backbone every step and dominate the time.
# Prepared for a GPU machine; it has not been run by the kit's authors on one yet.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${PRESET:-paper}
OUT=${1:-runs/study-$PRESET}
SEEDS=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
DATA=("$@")
[ ${#DATA[@]} -gt 0 ] || DATA=(elpv:mono elpv:poly)
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible: this script is for a GPU machine; use --preset cpu on a CPU')"
echo "study: ${DATA[*]} x ${SEEDS} seeds at preset ${PRESET} -> ${OUT}  ($(date -u +%FT%TZ))"
start=$(date +%s)
"$PY" -m adnkit study attention --data "${DATA[@]}" --seeds "$SEEDS" --preset "$PRESET" --device cuda --out "$OUT"
echo "took $(( $(date +%s) - start )) s; table: ${OUT}/study.csv; report: ${OUT}/report.html"
