# The README's two commands: `make demo` (main job on the embedded ELPV data) and `make test`.
# Both create or reuse .venv through scripts/setup_env.sh.
PY := .venv/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup demo test test-fast lint clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) -m adnkit.cli demo --out runs/demo

# Notebooks run at the ci preset (seconds per training run) under nbval.
test: setup
	$(PY) -m ruff check adnkit tests benchmarks && ADNKIT_PRESET=ci $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

# While changing code: the tests not marked slow (no notebooks, no real training runs), under a minute.
test-fast: setup
	ADNKIT_PRESET=ci $(PY) -m pytest -m "not slow" tests -q -p no:cacheprovider

lint: setup
	$(PY) -m ruff check adnkit tests benchmarks

clean:
	rm -rf .venv runs
