"""The notebooks' Colab set-up cell and their "Open in Colab" links, written from the one repository URL.

The URL is the project's Homepage in pyproject.toml (a fork changes that one line and runs this script); the
branch the links open is BRANCH. This script writes the first code cell of every notebook (clone, then
scripts/colab_setup.py) and the links block of notebooks/README.md, and prints the links for the top-level
README. tests/test_colab.py fails when a notebook or notebooks/README.md differs from what it writes.

    python scripts/colab_notebooks.py            # write the cells and notebooks/README.md's links
    python scripts/colab_notebooks.py --check    # exit 1 and name what differs
    python scripts/colab_notebooks.py --readme   # print the README's links only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BRANCH = "main"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LINKS_START = "<!-- colab-links: written by scripts/colab_notebooks.py, do not edit by hand -->"
LINKS_END = "<!-- /colab-links -->"
CLONE_DIR = "/content/adnkit"


def homepage(root: Path = ROOT) -> str:
    """The repository's web address: pyproject.toml's [project.urls] Homepage (https://github.com/OWNER/REPO)."""
    found = re.search(r'^Homepage = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    url = found.group(1).rstrip("/") if found else ""
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"pyproject.toml: Homepage {url!r} is not https://github.com/OWNER/REPO; Colab opens "
                         "notebooks from GitHub")
    return url


def notebook_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


SETUP_CELL = """\
# Colab set-up: when (and only when) this notebook runs in Google Colab, clone adnkit and install it without
# changing the packages Colab ships (scripts/colab_setup.py), then say which GPU the runtime has.
# Working from a fork? Change REPO_URL here, or set the environment variable ADNKIT_REPO before this cell.
import sys

REPO_URL = "@REPO_URL@.git"
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    import os
    import subprocess

    url = os.environ.get("ADNKIT_REPO", REPO_URL)
    if not os.path.isdir("@CLONE_DIR@"):
        if subprocess.run(["git", "clone", "--depth", "1", url, "@CLONE_DIR@"]).returncode != 0:
            raise SystemExit(f"Could not clone {url}: set REPO_URL above (or ADNKIT_REPO) to a repository you can "
                             "reach, e.g. your fork, and run this cell again.")
    if subprocess.run([sys.executable, "@CLONE_DIR@/scripts/colab_setup.py", "@CLONE_DIR@"]).returncode != 0:
        raise SystemExit("adnkit's set-up failed: its last lines above say why; run this cell again once fixed.")
    sys.path.insert(0, "@CLONE_DIR@")  # the fresh editable install, without restarting the runtime
    os.chdir("@CLONE_DIR@/notebooks")  # where the next cell expects to start"""


def setup_cell(repo_url: str) -> str:
    """The first code cell of every notebook: in Colab (only), clone the repository and run scripts/colab_setup.py."""
    return SETUP_CELL.replace("@REPO_URL@", repo_url).replace("@CLONE_DIR@", CLONE_DIR)


def colab_url(repo_url: str, notebook: Path, branch: str = BRANCH) -> str:
    """https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/notebooks/NAME.ipynb"""
    owner_repo = repo_url.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/notebooks/{notebook.name}"


def links_table(repo_url: str, paths: list[Path]) -> str:
    """notebooks/README.md's block: one row per notebook with its Colab badge."""
    rows = [f"| `{p.stem}` | [![Open in Colab]({BADGE})]({colab_url(repo_url, p)}) |" for p in paths]
    return "\n".join([LINKS_START, "| notebook | open in Colab |", "| --- | --- |", *rows, LINKS_END])


def readme_links(repo_url: str, paths: list[Path]) -> str:
    """The top-level README's lines: the badge opening the first notebook, then every notebook by name."""
    first = colab_url(repo_url, paths[0])
    names = " · ".join(f"[{p.stem}]({colab_url(repo_url, p)})" for p in paths)
    return f"[![Open in Colab]({BADGE})]({first}) Open a notebook in Colab (GPU runtime: the gpu preset): {names}"


def _nb_text(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def _with_cell(nb: dict, source: str) -> dict:
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    code[0]["source"] = source.splitlines(keepends=True)
    return nb


def _with_links(readme: str, block: str) -> str:
    if LINKS_START in readme and LINKS_END in readme:
        head, rest = readme.split(LINKS_START, 1)
        return head + block + rest.split(LINKS_END, 1)[1]
    raise SystemExit(f"notebooks/README.md: no {LINKS_START!r} ... {LINKS_END!r} block; add one where the links go")


def stale(root: Path = ROOT) -> list[str]:
    """The files that differ from what this script writes (notebooks and notebooks/README.md)."""
    repo_url = homepage(root)
    paths = notebook_paths(root)
    out = []
    for path in paths:
        text = path.read_text()
        if _nb_text(_with_cell(json.loads(text), setup_cell(repo_url))) != text:
            out.append(str(path.relative_to(root)))
    readme = (root / "notebooks" / "README.md").read_text()
    if _with_links(readme, links_table(repo_url, paths)) != readme:
        out.append("notebooks/README.md")
    return out


def write(root: Path = ROOT) -> None:
    repo_url = homepage(root)
    paths = notebook_paths(root)
    for path in paths:
        path.write_text(_nb_text(_with_cell(json.loads(path.read_text()), setup_cell(repo_url))))
    readme = root / "notebooks" / "README.md"
    readme.write_text(_with_links(readme.read_text(), links_table(repo_url, paths)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a file differs from what would be written")
    parser.add_argument("--readme", action="store_true", help="print the README's links only")
    args = parser.parse_args(argv)
    if args.check:
        differ = stale()
        for name in differ:
            print(f"{name}: out of date; run python scripts/colab_notebooks.py")
        return 1 if differ else 0
    if not args.readme:
        write()
    print(readme_links(homepage(), notebook_paths()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
