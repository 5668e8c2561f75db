#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): CUDA-marked tests, one MVTec-sized synthetic category at the gpu
# preset, notebooks 00, 03 and 06 under nbval at the gpu preset, the same category at the paper preset (wall
# time, AUROC, peak memory of each), then paper-preset step and scoring timings; one JSON out, written after
# every phase. Stopped at 8 minutes. Without a GPU it runs every phase on the CPU at a tiny size.
#
#   bash benchmarks/gpu_check.sh [--out benchmarks/results/gpu-check.json] [--compile] [--skip PHASE...]
#                                [--cpu-smoke]
#
# PYTHON overrides the interpreter (default: .venv/bin/python if present, else python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 "$PYTHON" benchmarks/gpu_check.py "$@"
