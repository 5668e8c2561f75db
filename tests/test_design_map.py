"""docs/design.md is the map of the library: every module under adnkit/ must appear in it, so that a newcomer
who reads it knows every file there is."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listed_modules(text: str) -> set[str]:
    """Module paths the page names as `wing/module.py`; in a table's first cell, bare `module.py` names after one
    such path are in the same folder (`data/sources/folder.py`, `mvtec.py`, ...)."""
    found = set(re.findall(r"`((?:\w+/)+\w+\.py)`", text))
    for row in text.splitlines():
        cells = row.split("|")
        if len(cells) < 3:
            continue
        names = re.findall(r"`([\w/]+\.py)`", cells[1])
        base = next((n.rsplit("/", 1)[0] for n in names if "/" in n), None)
        found |= {f"{base}/{n}" for n in names if base and "/" not in n}
    return found


def test_every_module_is_on_the_map():
    text = (ROOT / "docs" / "design.md").read_text()
    listed = listed_modules(text)
    modules = {p.relative_to(ROOT / "adnkit").as_posix() for p in (ROOT / "adnkit").rglob("*.py")
               if p.name not in ("__init__.py",) and "__pycache__" not in p.parts}
    modules.discard("__main__.py")
    missing = sorted(modules - listed)
    assert not missing, f"docs/design.md does not list {missing}; add them to the map of the wings"
    assert "__main__.py" in text


def test_the_map_lists_no_module_that_is_gone():
    listed = listed_modules((ROOT / "docs" / "design.md").read_text())
    gone = sorted(m for m in listed if not (ROOT / "adnkit" / m).is_file() and not (ROOT / m).is_file())
    assert not gone, f"docs/design.md names modules that do not exist: {gone}"
