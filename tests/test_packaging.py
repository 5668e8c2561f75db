"""The install metadata: the version in one place, an SPDX licence, pyproject.toml and environment.yml with the same
packages and floors, the engineer's path without the notebook stack, CI runs the README's command and the floors."""

import ast
import email
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from adnkit.core.errors import AdnkitError
from adnkit.core.version import __version__

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _bounds(requirement: str) -> str:
    return requirement.strip()[len(_name(requirement)):].strip()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> dict[str, str]:
    """{package: its version bounds} over the core dependencies and every extra."""
    meta = project()
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("adnkit")]
    return {_name(r): _bounds(r) for r in reqs}


def pyproject_packages() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in meta["dependencies"]}
    for reqs in meta["optional-dependencies"].values():
        names |= {_name(r) for r in reqs if not r.startswith("adnkit")}
    return names


def environment_requirements() -> dict[str, str]:
    """{package: its version bounds} in environment.yml, conda names turned into PyPI's."""
    reqs = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s+- (?!pip:)([A-Za-z0-9_.\-]+)(.*)$", line)
        if m and not line.strip().startswith("- -e"):
            name = CONDA_TO_PYPI.get(m.group(1).lower(), m.group(1).lower()).replace("_", "-")
            reqs[name] = m.group(2).strip()
    return {name: bounds for name, bounds in reqs.items() if name not in NOT_PACKAGES}


def environment_packages() -> set[str]:
    return set(environment_requirements())


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert pyproject_packages() == environment_packages()


def test_environment_yml_has_the_same_floors_as_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_the_version_is_written_once():
    meta = project()
    assert "version" not in meta and meta["dynamic"] == ["version"]
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert build["version"] == {"attr": "adnkit.core.version.__version__"}
    source = (ROOT / "adnkit" / "core" / "version.py").read_text()
    literal = [n.value.value for n in ast.parse(source).body
               if isinstance(n, ast.Assign) and n.targets[0].id == "__version__"]
    assert literal == [__version__] and re.fullmatch(r"\d+\.\d+\.\d+\S*", __version__)  # setuptools reads it statically


def test_the_licence_is_an_spdx_expression_and_the_description_short():
    meta = project()
    system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    assert meta["license"] == "MIT" and all((ROOT / f).is_file() for f in meta["license-files"])
    assert not any(c.startswith("License ::") for c in meta["classifiers"])  # setuptools refuses both
    assert "setuptools>=77.0.3" in system["requires"]
    readme = ROOT / meta["readme"]["file"]
    assert readme.name != "README.md" and len(readme.read_text().splitlines()) < 40


def test_the_engineers_path_needs_no_notebook_stack():
    """`pip install adnkit` trains, scores and exports (with the export extra); widgets, JupyterLab and
    Grad-CAM (opencv, matplotlib) come with the notebooks and explain extras."""
    core = {_name(r) for r in project()["dependencies"]}
    assert not core & {"ipywidgets", "jupyterlab", "ipykernel", "grad-cam", "matplotlib", "opencv-python"}
    extras = project()["optional-dependencies"]
    assert any(_name(r) == "grad-cam" for r in extras["explain"])
    assert "adnkit[explain]" in extras["notebooks"] and any(_name(r) == "ipywidgets" for r in extras["notebooks"])
    assert set(re.findall(r"\w+", extras["all"][0].split("[")[1])) == set(extras) - {"all"}


def test_explanations_without_the_extra_name_it(monkeypatch):
    import numpy as np

    from adnkit.explain.methods import cam_methods
    from adnkit.explain.overlay import overlay_map

    monkeypatch.setitem(sys.modules, "pytorch_grad_cam", None)  # as if not installed
    with pytest.raises(AdnkitError, match=r"pip install 'adnkit\[explain\]'"):
        cam_methods()
    with pytest.raises(AdnkitError, match=r"pip install 'adnkit\[explain\]'"):
        overlay_map(np.zeros((4, 4, 3)), np.zeros((4, 4)))


@pytest.mark.slow  # a subprocess: setuptools builds the package's metadata
def test_built_metadata_has_the_version_the_licence_and_the_extras(tmp_path):
    code = "import sys, setuptools.build_meta as b; print(b.prepare_metadata_for_build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    meta = email.message_from_string((tmp_path / done.stdout.split()[-1] / "METADATA").read_text())
    assert meta["Version"] == __version__ and meta["License-Expression"] == "MIT"
    assert set(meta.get_all("Provides-Extra")) == set(project()["optional-dependencies"])
    core = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert {_name(r) for r in core} == {_name(r) for r in project()["dependencies"]}
    assert meta.get_payload().startswith("# adnkit")  # docs/pypi.md, not the README


def test_floors_pins_each_lower_bound_and_follows_the_extras(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import floors
    finally:
        sys.path.pop(0)
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[project]\nname = "kit"\ndependencies = ["torch>=2.6", "a>=1.2,<2", "b", "C_d~=0.3"]\n'
                    '[project.optional-dependencies]\nx = ["e==4.1"]\ny = ["kit[x]", "f>=1", "a>=1.5"]\n')
    meta = tomllib.loads(toml.read_text())["project"]
    assert floors.floors(floors.requirements(meta, ["y"]), {"torch"}) == {"a": "1.5", "c-d": "0.3", "e": "4.1",
                                                                          "f": "1"}
    assert floors.floors(floors.requirements(meta, []), set()) == {"torch": "2.6", "a": "1.2", "c-d": "0.3"}


def test_no_exact_torch_pins_in_package_metadata():
    meta = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'"torch(vision)?==', meta), "exact torch pins belong in scripts/setup_env.sh only"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", ci, re.M)
    assert re.search(r"^bash scripts/test_floors.sh$", ci, re.M)  # after make test: the same tests at the floors
    assert ci.index("make test") < ci.index("bash scripts/test_floors.sh")


def test_console_script_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["adnkit"] == "adnkit.cli.main:main"


@pytest.mark.slow  # trains a tiny network and exports it
def test_train_score_and_export_need_neither_widgets_nor_grad_cam(tmp_path, monkeypatch, capsys):
    """The engineer's path (`pip install 'adnkit[export]'`): ipywidgets and pytorch-grad-cam as if not installed."""
    pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")
    from adnkit.cli.main import main

    for module in ("ipywidgets", "pytorch_grad_cam", "matplotlib", "cv2"):
        monkeypatch.setitem(sys.modules, module, None)
    run = tmp_path / "run"
    assert main(["train", "--preset", "ci", "--data", "synthetic:engineer", "--data-root", str(tmp_path / "data"),
                 "--meta-epochs", "1", "--sub-epochs", "1", "--max-train-images", "8", "--out", str(run),
                 "--quiet"]) == 0
    assert main(["export", str(run), "--out", str(tmp_path / "run.onnx")]) == 0
    images = tmp_path / "data" / "synthetic" / "engineer" / "test" / "good"
    assert main(["score", str(tmp_path / "run.onnx"), str(images), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("threshold ")
