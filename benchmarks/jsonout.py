"""How every benchmark script reports: one JSON document on stdout, and the same in a file with --out."""

from __future__ import annotations

import json
from pathlib import Path


def emit(doc: dict, out: str | Path | None) -> None:
    """Print `doc` as indented JSON and, when `out` is given, write it there too (folders created)."""
    text = json.dumps(doc, indent=2, default=str)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
