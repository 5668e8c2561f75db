"""`wm811k:PATH/LSWMD.pkl`: WM-811K wafer maps, converted once to PNGs under <data_root>/wm811k (adnkit.data.wafer)."""

from __future__ import annotations

from pathlib import Path

from adnkit.data.samples import Split
from adnkit.data.sources.registry import CatalogRow, DataSource
from adnkit.data.wafer import converted_wm811k, load_wm811k


def open_wm811k(arg: str, cfg) -> Split:
    return load_wm811k(arg, Path(cfg.data_root).expanduser())


def catalog_wm811k(data_root: Path) -> list[CatalogRow]:
    """The pickles converted so far, one row each."""
    return [CatalogRow("wm811k", Path(folder).name, True, f"wm811k:{source}")
            for folder, source in converted_wm811k(data_root).items()]


SOURCE = DataSource(prefix="wm811k", example="wm811k:data/LSWMD.pkl", open=open_wm811k, catalog=catalog_wm811k)
