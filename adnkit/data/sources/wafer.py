"""`wafer:PATH`: a wafer image folder in MVTec layout (adnkit.data.wafer)."""

from __future__ import annotations

from adnkit.data.samples import Split
from adnkit.data.sources.registry import DataSource
from adnkit.data.wafer import load_wafer


def open_wafer(arg: str, cfg) -> Split:
    return load_wafer(arg)


SOURCE = DataSource(prefix="wafer", example="wafer:data/wafer", open=open_wafer)
