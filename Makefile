# The README's two commands: `make demo` (main job on the embedded ELPV data) and `make test`.
# Both create or reuse .venv through scripts/setup_env.sh.
PY := .venv/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup demo test test-fast lint lab book clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) -m adnkit demo --out runs/demo

# Notebooks run at the ci preset (seconds per training run) under nbval.
test: setup
	$(PY) -m ruff check adnkit tests benchmarks && .venv/bin/lint-imports && ADNKIT_PRESET=ci $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

# While changing code: the tests not marked slow, ray or browser (no notebooks, no real training runs).
test-fast: setup
	ADNKIT_PRESET=ci $(PY) -m pytest -m "not slow and not ray and not browser" tests -q -p no:cacheprovider --durations=5

lint: setup
	$(PY) -m ruff check adnkit tests benchmarks && .venv/bin/lint-imports

# JupyterLab on the notebooks; as root (a container) it needs --allow-root, added here only then.
lab: setup
	.venv/bin/jupyter lab notebooks/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# The course as a static site (docs/_build/index.html): executes copies of every notebook at BOOK_PRESET on the
# embedded data and renders them with their outputs, offline (plotly.js embedded). `make book BOOK_PRESET=ci`.
BOOK_PRESET ?= cpu
book: setup
	$(PY) scripts/build_book.py --preset $(BOOK_PRESET) --out docs/_build

clean:
	rm -rf .venv runs
