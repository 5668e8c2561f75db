"""The Colab set-up (scripts/colab_setup.py) and the notebooks' first cells and Colab links
(scripts/colab_notebooks.py), checked without Colab: the install command for a simulated Colab runtime upgrades
nothing it ships, and every first cell and link comes from the one repository URL."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib
import torch
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup = _script("colab_setup")
notebooks = _script("colab_notebooks")

# A Colab GPU runtime's versions of the packages adnkit shares with it (googlecolab/backend-info,
# pip-freeze.gpu.txt, 2026), as importlib.metadata reports them, plus adnkit from an earlier run of the cell and
# a distribution whose version pip could not parse.
COLAB = {
    "torch": "2.11.0+cu128", "torchvision": "0.26.0+cu128", "ipywidgets": "7.7.1", "widgetsnbextension": "3.6.10",
    "jupyterlab_widgets": "3.0.16", "plotly": "5.24.1", "numpy": "2.0.2", "pandas": "2.2.2", "scipy": "1.16.3",
    "scikit-learn": "1.6.1", "tqdm": "4.67.3", "pillow": "11.3.0", "ipykernel": "6.17.1", "ipython": "7.34.0",
    "pip": "24.1.2", "adnkit": "0.1.0", "odd-build": "1.0-custom_build",
}
SHIPPED = ("torch", "torchvision", "ipywidgets", "plotly", "numpy")


def _pins(lines: list[str]) -> dict[str, str]:
    return dict(line.split("==") for line in lines)


def test_constraints_pin_what_colab_ships_to_its_own_versions():
    pins = _pins(setup.constraint_lines(COLAB))
    assert {name: pins[name] for name in SHIPPED} == {
        "torch": "2.11.0", "torchvision": "0.26.0", "ipywidgets": "7.7.1", "plotly": "5.24.1", "numpy": "2.0.2"}
    assert Version("2.11.0+cu128") in Requirement(f"torch=={pins['torch']}").specifier  # the CUDA build stays
    assert pins["jupyterlab-widgets"] == "3.0.16" and pins["scikit-learn"] == "1.6.1"  # names as pip compares them
    assert "adnkit" not in pins  # installed from the clone: a pin on it would stop pip
    assert "odd-build" not in pins  # pip would reject the whole file for one unparsable line
    assert len(pins) == len(COLAB) - 2


def test_install_command_is_an_editable_install_under_the_constraints_that_upgrades_nothing():
    command = setup.install_command("/usr/bin/python3", "/tmp/c.txt", "/content/adnkit", "data,explain")
    assert command == ["/usr/bin/python3", "-m", "pip", "install", "-q", "--constraint", "/tmp/c.txt", "--editable",
                       "/content/adnkit[data,explain]"]
    assert not {"-U", "--upgrade", "--force-reinstall", "--ignore-installed"} & set(command)


def test_colabs_versions_satisfy_every_requirement_of_adnkit():
    """With the constraints pip may only keep Colab's versions: so each must meet adnkit's ranges, or the install
    would stop (ResolutionImpossible). The ipywidgets range reaches down to Colab's 7.7.1."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    installed = [*meta["dependencies"], *extras["data"], *extras["explain"]]  # colab_setup's default extras
    installed += [r for r in extras["notebooks"] if r.startswith("ipywidgets")]  # the explorer, on Colab's own
    requirements = [Requirement(r) for r in installed]
    pins = {Requirement(line).name: Version(line.split("==")[1]) for line in setup.constraint_lines(COLAB)}
    checked = []
    for req in requirements:
        if req.name.lower() in pins:
            assert pins[req.name.lower()] in req.specifier, f"Colab's {req.name} {pins[req.name.lower()]} misses {req}"
            checked.append(req.name.lower())
    assert set(SHIPPED) <= set(checked)


def test_dry_run_prints_the_command_with_the_runtimes_constraints(capsys):
    assert setup.main(["/content/adnkit", "--dry-run"]) == 0
    out = capsys.readouterr().out
    command = out.strip().splitlines()[-1].split()
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and command[-1] == "/content/adnkit[data,explain]"
    constraints = Path(command[command.index("--constraint") + 1]).read_text().split()
    assert f"torch=={torch.__version__.split('+')[0]}" in constraints  # this interpreter's own versions


def test_gpu_line_names_the_gpu_or_how_to_get_one(monkeypatch):
    def nvidia_smi(*args, **kwargs):
        return subprocess.CompletedProcess(args, 0, stdout="Tesla T4, 15360 MiB, 7.5\n", stderr="")

    monkeypatch.setattr(setup.subprocess, "run", nvidia_smi)
    assert setup.gpu_summary().startswith("GPU: Tesla T4, 15360 MiB, 7.5")

    def missing(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    monkeypatch.setattr(setup.subprocess, "run", missing)
    assert "Change runtime type" in setup.gpu_summary()


# --- one URL -----------------------------------------------------------------------------------------------------
def test_every_notebooks_first_cell_and_the_links_come_from_the_one_url():
    url = notebooks.homepage()
    paths = notebooks.notebook_paths()
    assert len(paths) >= 7 and notebooks.stale() == []
    for path in paths:
        first = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][0].source
        assert first == notebooks.setup_cell(url) and f'REPO_URL = "{url}.git"' in first, path.name
        assert "scripts/colab_setup.py" in first
    readme = (ROOT / "notebooks" / "README.md").read_text()
    links = re.findall(r"\((https://colab\.research\.google\.com/github/[^)]+)\)", readme)
    owner_repo = url.removeprefix("https://github.com/")
    assert links == [f"https://colab.research.google.com/github/{owner_repo}/blob/{notebooks.BRANCH}/notebooks/"
                     f"{p.name}" for p in paths]
    assert all(p.name in notebooks.readme_links(url, paths) for p in paths)
    first_screen = (ROOT / "README.md").read_text().splitlines()[:25]  # the top-level README's first screen
    assert notebooks.readme_links(url, paths) in first_screen


def test_a_fork_changes_one_line_and_the_script_rewrites_the_rest(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for path in notebooks.notebook_paths():
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    shutil.copy(ROOT / "notebooks" / "README.md", tmp_path / "notebooks" / "README.md")
    text = (ROOT / "pyproject.toml").read_text()
    fork = "https://github.com/someone/adnkit-fork"
    (tmp_path / "pyproject.toml").write_text(re.sub(r'^Homepage = "[^"]+"', f'Homepage = "{fork}"', text, flags=re.M))
    assert len(notebooks.stale(tmp_path)) == len(notebooks.notebook_paths()) + 1  # every notebook and the README
    notebooks.write(tmp_path)
    assert notebooks.stale(tmp_path) == []
    nb = json.loads((tmp_path / "notebooks" / "00_quickstart.ipynb").read_text())
    assert f'REPO_URL = "{fork}.git"' in "".join(nb["cells"][1]["source"])
    assert "github/someone/adnkit-fork/blob/main/notebooks/06_" in (tmp_path / "notebooks" / "README.md").read_text()
    nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))


def test_a_hand_edited_first_cell_is_found_stale(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for path in notebooks.notebook_paths():
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    shutil.copy(ROOT / "notebooks" / "README.md", tmp_path / "notebooks" / "README.md")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "notebooks" / "03_attention_se_cbam.ipynb"
    path.write_text(path.read_text().replace("--depth", "--depth=1 --branch dev"))
    assert notebooks.stale(tmp_path) == ["notebooks/03_attention_se_cbam.ipynb"]


@pytest.mark.parametrize("homepage", ["https://gitlab.com/a/b", "adnkit"])
def test_a_homepage_colab_cannot_open_is_a_one_line_error(tmp_path, homepage):
    (tmp_path / "pyproject.toml").write_text(f'[project.urls]\nHomepage = "{homepage}"\n')
    with pytest.raises(SystemExit, match="not https://github.com/OWNER/REPO"):
        notebooks.homepage(tmp_path)
