"""Resident memory of a notebook's kernel: after start-up, after importing adnkit, after running every cell,
and after the notebook's objects are deleted and garbage-collected (what a teacher gains by restarting or
closing kernels). Runs copies of the notebooks with nbclient in a temporary notebooks/ folder and prints one
JSON document (and writes it with --out).

    python benchmarks/kernel_memory.py --preset ci notebooks/00_quickstart.ipynb notebooks/06_gradcam_explorer.ipynb
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jsonout import emit
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
RSS = "import psutil as _p; print(round(_p.Process().memory_info().rss / 2**20))"
FREE = ("import gc as _gc\n"
        "for _n in [n for n in list(globals()) if not n.startswith('_') and n not in ('In', 'Out', 'get_ipython', "
        "'exit', 'quit')]:\n    del globals()[_n]\n"
        "_gc.collect()\n")


def _probe(nb, source):
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    return cell


def measure(path: Path, preset: str, work: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    first = nbformat.v4.new_code_cell(RSS)
    imported = nbformat.v4.new_code_cell("import adnkit, torch\n" + RSS)
    nb.cells = [first, imported] + nb.cells
    after = _probe(nb, RSS)
    freed = _probe(nb, FREE + RSS)
    os.environ.update(ADNKIT_PRESET=preset, TQDM_DISABLE="1", ADNKIT_OFFLINE=os.environ.get("ADNKIT_OFFLINE", "1"),
                      ADNKIT_DATA_ROOT=os.environ.get("ADNKIT_DATA_ROOT", str(ROOT / "data")),
                      ADNKIT_RUNS=os.environ.get("ADNKIT_RUNS", str(ROOT / "runs" / f"book-{preset}")),
                      PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()

    def mb(cell):
        return int("".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout").split()[-1])

    return dict(notebook=path.name, preset=preset, seconds=round(time.perf_counter() - started, 1),
                rss_mb_started=mb(first), rss_mb_adnkit_imported=mb(imported), rss_mb_after_all_cells=mb(after),
                rss_mb_after_del_and_gc=mb(freed))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--preset", default="ci", choices=["ci", "cpu", "paper"])
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "notebooks"
        work.mkdir()
        rows = [measure(Path(p), args.preset, work) for p in args.notebooks]
    doc = dict(machine=dict(platform=platform.platform(), python=sys.version.split()[0], cpus=os.cpu_count()),
               kernels=rows)
    emit(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
