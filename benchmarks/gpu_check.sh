#!/usr/bin/env bash
# The GPU check of issue 14 (benchmarks/gpu_check.py): CUDA-marked tests, paper-preset step and scoring
# timings with and without bf16 / channels-last / compile, one paper-preset run of 1 meta epoch on a synthetic
# set; one JSON out. Under 8 minutes on one modern GPU. Without a GPU it runs its CPU parts at a tiny size.
#
#   bash benchmarks/gpu_check.sh [--out benchmarks/results/gpu-check.json] [--no-compile] [--cpu-smoke]
#
# PYTHON overrides the interpreter (default: .venv/bin/python if present, else python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 "$PYTHON" benchmarks/gpu_check.py "$@"
