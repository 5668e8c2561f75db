"""The install metadata: pyproject.toml and environment.yml list the same packages; CI runs the README's command."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in meta["dependencies"]}
    for reqs in meta["optional-dependencies"].values():
        names |= {_name(r) for r in reqs if not r.startswith("adnkit")}
    return names


def environment_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^\s+- (?!pip:)([A-Za-z0-9_.\-]+)", line)
        if m and not line.strip().startswith("- -e"):
            names.add(CONDA_TO_PYPI.get(m.group(1).lower(), m.group(1).lower()).replace("_", "-"))
    return names - NOT_PACKAGES


def test_environment_yml_lists_the_same_packages_as_pyproject():
    assert pyproject_packages() == environment_packages()


def test_no_exact_torch_pins_in_package_metadata():
    meta = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'"torch(vision)?==', meta), "exact torch pins belong in scripts/setup_env.sh only"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_console_script_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["adnkit"] == "adnkit.cli.main:main"
