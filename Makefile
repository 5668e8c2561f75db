# The README's two commands: `make demo` (main job on the embedded ELPV data) and `make test`.
# Both create or reuse .venv through scripts/setup_env.sh.
PY := .venv/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup demo test lab clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) -m adnkit.cli demo --out runs/demo

# Notebooks run at the ci preset (seconds per training run) under nbval.
test: setup
	ADNKIT_PRESET=ci $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

# JupyterLab on the notebooks; as root (a container) it needs --allow-root, added here only then.
lab: setup
	.venv/bin/jupyter lab notebooks/ $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

clean:
	rm -rf .venv runs
