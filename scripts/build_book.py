"""`make book`: the notebooks as a static site that reads without running (docs/_build/).

Executes COPIES of notebooks/*.ipynb (the stored ones stay stripped) with nbclient at a preset
(BOOK_PRESET, default cpu) on the embedded data, and exports each, with its outputs, to HTML with nbconvert;
then writes a landing page (index.html) with the learning path, what each notebook teaches, how many figures
it draws and how long it took to run. Offline, no CDN:
- plotly figures are rendered with plotly's "notebook" renderer, which puts plotly.js itself into the page
  (PLOTLY_RENDERER=notebook in the kernels' environment), not a CDN link;
- nbconvert's links to require.js, MathJax and the widget manager on CDNs are taken out of the pages;
- live widgets (the explorer of 06) cannot run without a kernel: their outputs are replaced by a short note, and
  tqdm's widget progress bars are switched off (TQDM_DISABLE=1).
Why nbconvert and not Jupyter Book: nbconvert and nbclient are already installed with JupyterLab, work offline,
and need no new dependency; Jupyter Book 1 would add Sphinx, myst-nb and a theme to the environment for a
seven-page site.

    python scripts/build_book.py --preset ci --out docs/_build
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import mistune
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
CDN = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>|<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>")
WIDGET_NOTE = ("<p><em>An interactive widget was shown here (in 06: the AnomalyExplorer). It needs a running "
               "kernel: open the notebook in JupyterLab (<code>make lab</code>) to use it.</em></p>")


def execute(path: Path, work: Path, preset: str, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """Run a copy of the notebook in work/notebooks/ (where its parameters cell expects to start)."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, ADNKIT_PRESET=preset, PLOTLY_RENDERER="notebook", TQDM_DISABLE="1",
               ADNKIT_OFFLINE=os.environ.get("ADNKIT_OFFLINE", "1"),
               ADNKIT_DATA_ROOT=os.environ.get("ADNKIT_DATA_ROOT", str(ROOT / "data")),
               ADNKIT_RUNS=os.environ.get("ADNKIT_RUNS", str(ROOT / "runs" / f"book-{preset}")),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(work)}},
                            store_widget_state=True)
    # nbclient starts the kernel with the environment of this process: set it for the kernel's lifetime.
    before = dict(os.environ)
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(before)
    return nb, time.perf_counter() - started


def _is_progress_bar(model_id: str, state: dict) -> bool:
    """tqdm's notebook bar: an HBox holding a FloatProgress (or the FloatProgress itself)."""
    model = state.get(model_id, {})
    if model.get("model_name") == "FloatProgressModel":
        return True
    children = model.get("state", {}).get("children", [])
    return any(state.get(str(c).replace("IPY_MODEL_", ""), {}).get("model_name") == "FloatProgressModel"
               for c in children)


def staticize(nb: nbformat.NotebookNode) -> int:
    """Drop tqdm's widget progress bars, replace other live widgets by a note; return the number of plotly
    figures the notebook draws."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    figures = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and _is_progress_bar(str(data[WIDGET_VIEW].get("model_id")), state):
                continue
            kept.append(out)
            if WIDGET_VIEW in data:
                out["data"] = {"text/html": WIDGET_NOTE}
            elif PLOTLY_MIME in data or "plotly" in str(data.get("text/html", ""))[:4000] and "Plotly.newPlot" in \
                    str(data.get("text/html", "")):
                figures += 1
        cell["outputs"] = kept
    nb.metadata.pop("widgets", None)
    return figures


def to_html(nb: nbformat.NotebookNode) -> str:
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return CDN.sub("", body)


def learn_section(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """(title, "What you will learn" bullets as HTML) from the notebook's first cell."""
    text = nb.cells[0].source
    title = text.splitlines()[0].lstrip("# ").strip()
    part = text.split("## What you will learn", 1)[-1].strip("\n")
    bullets = part.split("\n\n")[0]  # the list ends at the first blank line
    return title, mistune.html(bullets)


def landing(pages: list[dict], preset: str, total: float) -> str:
    rows = []
    for page in pages:
        rows.append(
            f"<section><h2><a href='{page['html']}'>{html.escape(page['title'])}</a></h2>"
            f"<p class='meta'>{page['figures']} figure(s); ran in {page['seconds']:.0f} s at the "
            f"<code>{preset}</code> preset</p>{page['learn']}</section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>adnkit: the course</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.45;
       color: #222; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-bottom: 0.2em; font-size: 1.2em; }}
section {{ border-left: 4px solid #1f77b4; padding: 0.2em 1em; margin: 1.2em 0; background: #f7f9fc; }}
.meta {{ color: #666; margin: 0.2em 0; font-size: 0.9em; }} code {{ background: #eef; padding: 0 0.2em; }}
</style></head><body>
<h1>adnkit: DifferNet and AttentDifferNet, a course in seven notebooks</h1>
<p>Read the notebooks in order: each one builds on the previous. Every page below was executed at the
<code>{preset}</code> preset on the embedded data and shows its outputs and figures (interactive plotly
charts: hover, zoom); nothing needs a server. To run them yourself: <code>make lab</code>. Teachers: see
<code>notebooks/README.md</code> in the repository.</p>
<p class="meta">Learning path: quickstart → datasets → the DifferNet baseline → attention (SE, CBAM) → training at
the papers' scale on a GPU → evaluation and thresholds → where the detector looks (Grad-CAM, explorer).
Built in {total:.0f} s.</p>
{''.join(rows)}
</body></html>
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=os.environ.get("BOOK_PRESET", "cpu"), choices=["ci", "cpu", "paper"])
    parser.add_argument("--out", default=str(ROOT / "docs" / "_build"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may run")
    parser.add_argument("notebooks", nargs="*", help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = out / "work" / "notebooks"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    pages, started = [], time.perf_counter()
    for path in paths:
        print(f"book: running {path.name} at the {args.preset} preset ...", flush=True)
        nb, seconds = execute(path, work, args.preset, args.timeout)
        figures = staticize(nb)
        page = out / (path.stem + ".html")
        page.write_text(to_html(nb), encoding="utf-8")
        title, learn = learn_section(nb)
        pages.append(dict(html=page.name, title=title, learn=learn, figures=figures, seconds=seconds,
                          notebook=path.name))
        print(f"book: {page} ({seconds:.0f} s, {figures} figures)", flush=True)
    total = time.perf_counter() - started
    (out / "index.html").write_text(landing(pages, args.preset, total), encoding="utf-8")
    (out / "timings.json").write_text(json.dumps(dict(preset=args.preset, total_seconds=round(total, 1),
                                                      notebooks={p["notebook"]: round(p["seconds"], 1)
                                                                 for p in pages}), indent=2))
    shutil.rmtree(out / "work", ignore_errors=True)
    print(f"book: {out / 'index.html'} ({len(pages)} notebooks, {total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
