"""`folder:PATH` (or a bare PATH): a category folder in MVTec layout, read as it is."""

from __future__ import annotations

from pathlib import Path

from adnkit.data.folder import load_folder
from adnkit.data.samples import Split
from adnkit.data.sources.registry import DataSource


def open_folder(arg: str, cfg) -> Split:
    path = Path(arg).expanduser()
    return load_folder(path, dataset="folder", category=path.resolve().name)


SOURCE = DataSource(prefix="folder", example="folder:data/my_part", open=open_folder)
