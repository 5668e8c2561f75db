"""`adnkit demo`, the README's main job: DifferNet, SE and CBAM on the ELPV solar cells (real data, installed with
the elpv-dataset package, no download) at the demo preset, one seed each, then the summary, what one seed can say
and the report."""

from __future__ import annotations

import time
from pathlib import Path

from adnkit.config import Config
from adnkit.experiments.cells import jsonable
from adnkit.experiments.folder import BenchFolder

DEMO_DATA = ("elpv:mono",)
DEMO_ATTENTIONS = ("none", "se", "cbam")
DEMO_PRESET = "demo"


def set_aside_if_other(out: str | Path, base: Config) -> tuple[Path, list[str]] | None:
    """A demo folder made with other settings (e.g. before a preset changed) is moved beside the new one, not
    refused, so that `make demo` always works; where it was moved and the settings that differ, or None."""
    out = Path(out)
    differ = BenchFolder(out).settings_that_differ(jsonable(base.to_dict()))
    if not differ:
        return None
    kept = out.with_name(f"{out.name}-before-{time.strftime('%Y%m%d-%H%M%S')}")
    out.rename(kept)
    return kept, differ
