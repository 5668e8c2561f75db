"""Install adnkit into a Google Colab runtime without changing anything Colab ships, then say which GPU it found.

Every notebook's first cell clones the repository and runs this script (scripts/colab_notebooks.py writes
that cell). Standard library only: it runs before adnkit or its dependencies are installed.

    python scripts/colab_setup.py [REPO_DIR] [--extras data,explain] [--dry-run]

- pip installs `REPO_DIR[extras]` (editable) under a constraints file that pins every distribution already
  installed to its installed version (torch, torchvision, ipywidgets, plotly, numpy and the rest): pip adds
  what is missing and upgrades nothing. Should adnkit ever need a newer version of something Colab ships,
  pip stops with ResolutionImpossible naming it, instead of replacing a package under the running kernel
  (an upgraded ipywidgets breaks Colab's widgets: googlecolab/colabtools#3020). No -U, ever.
- Colab renders the explorer's widgets (ipywidgets' own: sliders, dropdowns, HTML, Image, Output) natively,
  so the custom widget manager is not enabled: it is for third-party widgets only, and it has broken core ones
  (googlecolab/colabtools#3571).
- It prints the GPU (name, memory) from nvidia-smi, or how to ask Colab for one.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

OWN_NAME = "adnkit"
VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9]+(\.[a-z0-9]+)*)?", re.I)
"""A PEP 440 version in the forms installed packages use; anything else is left out of the constraints."""


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> dict[str, str]:
    """{normalized name: version} of the distributions this interpreter imports (the first of a name on
    sys.path wins, as for imports)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and normalized(name) not in found:
            found[normalized(name)] = dist.version
    return found


def constraint_lines(installed: dict[str, str]) -> list[str]:
    """`name==version` for every installed distribution but adnkit itself; a local label (`2.11.0+cu128`) is
    dropped, since `==2.11.0` already matches the installed `2.11.0+cu128` (PEP 440) and pip keeps it."""
    lines = []
    for name, version in sorted(installed.items()):
        if normalized(name) == OWN_NAME or not VERSION.fullmatch(version):
            continue
        lines.append(f"{normalized(name)}=={version.split('+')[0]}")
    return lines


def install_command(python: str, constraints_file: str, repo_dir: str, extras: str) -> list[str]:
    """The pip command: an editable install of the repository with its extras, under the constraints."""
    target = f"{repo_dir}[{extras}]" if extras else repo_dir
    return [python, "-m", "pip", "install", "-q", "--constraint", constraints_file, "--editable", target]


def gpu_summary() -> str:
    """One line on the GPU nvidia-smi sees, or how to get one in Colab."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        done = None
    if done is None or done.returncode != 0 or not done.stdout.strip():
        return ("GPU: none. adnkit runs on the CPU at the cpu preset; for a GPU choose Runtime > Change runtime "
                "type > T4 GPU, then run this cell again.")
    return "GPU: " + "; ".join(line.strip() for line in done.stdout.strip().splitlines()) + \
        " (the notebooks run the gpu preset on it)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo_dir", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--extras", default="data,explain",
                        help="adnkit's extras to install (default: data,explain: ELPV and Grad-CAM)")
    parser.add_argument("--dry-run", action="store_true", help="print the command and the constraints only")
    args = parser.parse_args(argv)
    lines = constraint_lines(installed_versions())
    with tempfile.NamedTemporaryFile("w", suffix="-constraints.txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    command = install_command(sys.executable, f.name, args.repo_dir, args.extras)
    kept = [line for line in lines if line.split("==")[0] in ("torch", "torchvision", "ipywidgets", "plotly", "numpy")]
    print(f"adnkit set-up: installing {args.repo_dir} [{args.extras}], keeping the {len(lines)} installed "
          f"packages as they are ({', '.join(kept)}, ...)")
    if args.dry_run:
        print(" ".join(command))
        return 0
    done = subprocess.run(command)
    if done.returncode != 0:
        print(f"adnkit set-up: pip failed (above); nothing Colab ships was changed. Constraints: {f.name}",
              file=sys.stderr)
        return done.returncode
    print(gpu_summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
