"""The notebooks' house rules, checked without running them (nbval runs them: `make test`).

- numbered 00, 01, ... without gaps, 00..06 at least, one notebook per number;
- committed STRIPPED: no outputs, no execution counts, no stored widget state;
- each opens with a "What you will learn" markdown cell and ends with a "Try this next" markdown cell;
- the first code cell is the Colab set-up, which does nothing outside Colab (installs only under `if IN_COLAB:`;
  its exact text is scripts/colab_notebooks.py's, checked in tests/test_colab.py);
- the second code cell reads the parameters from the environment (ADNKIT_PRESET, ADNKIT_DATA, ADNKIT_DATA_ROOT)
  with the documented defaults (the preset: the machine's, adnkit.config.machine_preset), so that CI can run
  every notebook at the ci preset;
- shell escapes and installs appear nowhere else, and the notebooks stay thin (they import adnkit).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
PATHS = sorted(p for p in NOTEBOOKS.glob("*.ipynb"))
# The one repository URL the Colab cells clone: the project's Homepage in pyproject.toml, plus ".git".
REPO_URL = (
    re.search(r'^Homepage = "([^"]+)"', (NOTEBOOKS.parent / "pyproject.toml").read_text(), re.M).group(1) + ".git"
)


def _read(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_numbering_is_contiguous_from_00_to_06():
    assert PATHS, f"no notebooks in {NOTEBOOKS}"
    bad = [p.name for p in PATHS if not NAME.match(p.name)]
    assert not bad, f"notebook names must look like 00_topic.ipynb (lower case): {bad}"
    numbers = [int(NAME.match(p.name).group(1)) for p in PATHS]
    assert len(numbers) == len(set(numbers)), f"two notebooks share a number: {[p.name for p in PATHS]}"
    assert numbers == list(range(len(numbers))), f"numbers must run 00, 01, ... without gaps: {numbers}"
    assert len(numbers) >= 7, f"expected notebooks 00..06, found {[p.name for p in PATHS]}"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_stored_stripped(path):
    nb = _read(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i}: stored outputs; strip them before committing"
            assert cell.get("execution_count") is None, f"{path.name} cell {i}: stored execution count; strip it"
        assert "attachments" not in cell or not cell["attachments"], f"{path.name} cell {i}: attachments"
    assert "widgets" not in nb.metadata, f"{path.name}: stored widget state in the metadata; strip it"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_opens_with_what_you_will_learn_and_ends_with_try_this_next(path):
    nb = _read(path)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "What you will learn" in first.source, \
        f"{path.name}: the first cell must be markdown with a 'What you will learn' section"
    assert first.source.lstrip().startswith("# "), f"{path.name}: the first cell starts with the notebook's title"
    assert last.cell_type == "markdown" and "Try this next" in last.source, \
        f"{path.name}: the last cell must be markdown with a 'Try this next' section"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_colab_cell_then_parameters_cell(path):
    code = _code_cells(_read(path))
    assert len(code) >= 3, f"{path.name}: needs the Colab cell, the parameters cell and some work"
    colab, params = code[0].source, code[1].source

    assert 'IN_COLAB = "google.colab" in sys.modules' in colab, f"{path.name}: first code cell must be the Colab set-up"
    tree = ast.parse(colab)
    guarded = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "IN_COLAB"]
    assert len(guarded) == 1, f"{path.name}: the Colab cell needs one `if IN_COLAB:` block"
    outside = [n for n in tree.body if n is not guarded[0]]
    for node in outside:  # outside the guard: only `import sys`, the REPO_URL constant and the IN_COLAB assignment
        text = ast.unparse(node)
        assert text in ("import sys", "IN_COLAB = 'google.colab' in sys.modules", f"REPO_URL = {REPO_URL!r}"), \
            f"{path.name}: the Colab cell does something outside `if IN_COLAB:`: {text}"
    inside = ast.unparse(guarded[0])
    assert "git" in inside and "clone" in inside and "scripts/colab_setup.py" in inside, \
        f"{path.name}: the Colab cell should clone adnkit and run scripts/colab_setup.py"
    assert "os.environ.get('ADNKIT_REPO', REPO_URL)" in inside, (
        f"{path.name}: clone REPO_URL, overridable by ADNKIT_REPO"
    )
    assert "check=True" not in inside and inside.count("SystemExit") == 2, \
        f"{path.name}: a failed clone or install should end in one line saying what to do, not a traceback"

    assert re.search(r'^PRESET = os\.environ\.get\("ADNKIT_PRESET"\) or machine_preset\(\)', params, re.M), \
        f"{path.name}: the preset is ADNKIT_PRESET, else the machine's (adnkit.config.machine_preset)"
    for var, default in (
        ("ADNKIT_DATA", '"synthetic:notebooks"'),
        ("ADNKIT_DATA_ROOT", None),
    ):
        pattern = rf'os\.environ\.get\("{var}",\s*{re.escape(default) if default else "[^)]+"}\)'
        assert re.search(pattern, params), f"{path.name}: the parameters cell must read {var} from the environment"
    for name in ("PRESET", "DATA", "DATA_ROOT", "RUNS"):
        assert re.search(rf"^{name} = ", params, re.M), f"{path.name}: the parameters cell must set {name}"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_no_shell_escapes_or_installs_outside_the_colab_cell(path):
    code = _code_cells(_read(path))
    for i, cell in enumerate(code[1:], start=1):
        for line in cell.source.splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("!", "%pip", "%conda", "%%bash", "%%sh", "%cd")), \
                f"{path.name} code cell {i}: shell escape or install outside the Colab cell: {stripped}"
        assert "subprocess" not in cell.source and "pip install" not in cell.source, \
            f"{path.name} code cell {i}: installs belong in the Colab cell only"
        ast.parse(cell.source)  # valid Python (no IPython magics anywhere)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_thin_and_explained(path):
    nb = _read(path)
    code = "\n".join(c.source for c in _code_cells(nb))
    assert re.search(r"^\s*(from adnkit[ .]|import adnkit)", code, re.M), f"{path.name}: must use adnkit"
    assert "fig.show()" in code or ".show()" in code, f"{path.name}: explain with (plotly) figures"
    assert "assert " in code, f"{path.name}: cells must assert real outcomes (nbval --nbval-lax only sees errors)"
    markdown = sum(1 for c in nb.cells if c.cell_type == "markdown")
    assert markdown >= 4, f"{path.name}: too little explanation ({markdown} markdown cells)"
    longest = max(len(c.source.splitlines()) for c in _code_cells(nb))
    assert longest <= 90, f"{path.name}: a {longest}-line code cell; move library code into adnkit/"
