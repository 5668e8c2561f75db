"""How every benchmark script reports: one JSON document on stdout, and the same in a file with --out; and how it
refuses to report a measurement of nothing (`require`)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def emit(doc: dict, out: str | Path | None) -> None:
    """Print `doc` as indented JSON and, when `out` is given, write it there too (folders created)."""
    text = json.dumps(doc, indent=2, default=str)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")


def require(ok: bool, what: str) -> None:
    """Fail loudly when what was timed is not real work (no rows, a NaN loss, fewer images scored than asked):
    one line on stderr and exit status 3, before any JSON is printed or written."""
    if not ok:
        print(f"benchmark: {what}; nothing real was measured, so no result is written", file=sys.stderr)
        raise SystemExit(3)


def finite(value) -> bool:
    """A real number that is neither NaN nor infinite (a loss, a score, an AUROC)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
