"""The explorer's widget logic (tests/test_widgets.py) under the lowest ipywidgets the package accepts, which is
Colab's; the ordinary run of tests/test_widgets.py covers the newest, installed in the environment.

The lowest version is read from pyproject.toml's `ipywidgets>=X` and installed once, without dependencies, into a
folder cached under pytest's cache (or data/.cache when the cache plugin is off), together with the companion
packages Colab pairs it with; that folder goes first on PYTHONPATH of a pytest subprocess. Needs PyPI the first
time (CI has it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # installs packages once, then runs test_widgets.py in a subprocess

ROOT = Path(__file__).resolve().parents[1]
COMPANIONS = ("widgetsnbextension==3.6.10", "jupyterlab_widgets==3.0.16", "ipython_genutils==0.2.0")
"""What Colab runs ipywidgets 7.7.1 with (googlecolab/backend-info); ipywidgets 7 imports ipython_genutils."""


def lowest_ipywidgets() -> str:
    found = re.search(r'"ipywidgets>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert found, "pyproject.toml: the ipywidgets requirement should read ipywidgets>=X"
    return found.group(1)


def _install(version: str, request) -> Path:
    name = f"ipywidgets-{version}"
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir(name) if cache is not None else ROOT / "data" / ".cache" / name
    if (folder / "ipywidgets" / "__init__.py").is_file():
        return folder
    partial = folder.with_name(name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(partial),
                           f"ipywidgets=={version}", *COMPANIONS], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"could not install ipywidgets {version} from PyPI: {done.stderr.strip().splitlines()[-1:]}")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def test_the_explorer_works_under_the_lowest_ipywidgets_accepted(request):
    version = lowest_ipywidgets()
    folder = _install(version, request)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "ADNKIT_PRESET": "ci", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    seen = subprocess.run([sys.executable, "-c", "import ipywidgets; print(ipywidgets.__version__)"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    assert seen.stdout.strip() == version, seen.stderr
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_widgets.py"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0 and "failed" not in summary and "skipped" not in summary, done.stdout[-3000:]
    tests = len(re.findall(r"^def test_", (ROOT / "tests" / "test_widgets.py").read_text(), re.M))
    assert f"{tests} passed" in summary, summary  # every test of test_widgets.py ran under the lowest version
