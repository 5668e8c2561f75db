"""Print pip constraints that pin every dependency of pyproject.toml to the lowest version it allows.

    python scripts/floors.py --extras test,export,explain > floors.txt
    pip install -c floors.txt -e '.[test,export,explain]'

The core dependencies and the named extras (and the extras they name, such as adnkit[explain]) each give
`name==floor` from their `>=`, `~=` or `==` bound; one without a lower bound is left to pip. `--skip` leaves out
packages whose builds are chosen elsewhere: torch and torchvision come from scripts/setup_env.sh's builds.
scripts/test_floors.sh installs these floors into a virtual environment of its own and runs the tests there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def requirements(project: dict, extras: list[str]) -> list[Requirement]:
    """The core requirements, then those of each extra in `extras`, following the project's own extras."""
    name = canonicalize_name(project["name"])
    found, todo, seen = [Requirement(r) for r in project["dependencies"]], list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in project.get("optional-dependencies", {}):
            sys.exit(f"floors.py: pyproject.toml has no extra {extra!r}")
        for text in project["optional-dependencies"][extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == name:
                todo.extend(sorted(req.extras))
            else:
                found.append(req)
    return found


def floors(reqs: list[Requirement], skip: set[str]) -> dict[str, str]:
    """{package: its lowest allowed version}, for the requirements that have a lower bound."""
    out: dict[str, str] = {}
    for req in reqs:
        name = canonicalize_name(req.name)
        lows = [s.version for s in req.specifier if s.operator in (">=", "~=", "==")]
        if name not in skip and lows:
            out[name] = str(max([Version(v) for v in lows] + ([Version(out[name])] if name in out else [])))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--extras", default="", help="comma-separated extras to include, e.g. test,export")
    parser.add_argument("--skip", default="torch,torchvision", help="packages to leave out [torch,torchvision]")
    args = parser.parse_args(argv)
    project = tomllib.loads(args.pyproject.read_text())["project"]
    skip = {canonicalize_name(s) for s in args.skip.split(",") if s.strip()}
    reqs = requirements(project, [e.strip() for e in args.extras.split(",") if e.strip()])
    for name, version in floors(reqs, skip).items():
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
