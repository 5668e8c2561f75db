"""`elpv:mono` | `elpv:poly`: ELPV solar cells from the elpv-dataset package (adnkit.data.elpv); a bare `elpv` in a
benchmark stands for both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from adnkit.data.elpv import ELPV_TYPES, load_elpv
from adnkit.data.samples import Split
from adnkit.data.sources.registry import CatalogRow, DataSource


def open_elpv(arg: str, cfg) -> Split:
    return load_elpv(arg, threshold=cfg.elpv_defect_threshold, test_good_fraction=cfg.elpv_test_good_fraction)


def elpv_names(arg: str) -> tuple[str, str]:
    return "elpv", arg


def expand_elpv(arg: str, data_root: Path) -> list[str] | None:
    """The bare `elpv`: both cell types."""
    return None if arg else [f"elpv:{kind}" for kind in ELPV_TYPES]


def catalog_elpv(data_root: Path) -> list[CatalogRow]:
    """Both cell types, present when the elpv-dataset package is installed."""
    installed = importlib.util.find_spec("elpv_dataset") is not None
    return [CatalogRow("elpv", kind, installed, f"elpv:{kind}") for kind in ELPV_TYPES]


SOURCE = DataSource(prefix="elpv", example="elpv:mono", open=open_elpv, names=elpv_names, expand=expand_elpv,
                    catalog=catalog_elpv)
