"""`synthetic:NAME`: a generated set, made once under <data_root>/synthetic/NAME (adnkit.data.synthetic)."""

from __future__ import annotations

from pathlib import Path

from adnkit.data.samples import Split
from adnkit.data.sources.registry import CatalogRow, DataSource
from adnkit.data.synthetic import load_synthetic, synthetic_sets

SUGGESTED_SETS = ("demo", "object-demo")
"""Listed by `adnkit data list` even before they are made (they are made on first use)."""


def open_synthetic(arg: str, cfg) -> Split:
    return load_synthetic(arg, Path(cfg.data_root).expanduser())


def synthetic_names(arg: str) -> tuple[str, str]:
    return "synthetic", arg


def catalog_synthetic(data_root: Path) -> list[CatalogRow]:
    """The suggested sets and every set made so far."""
    made = synthetic_sets(data_root)
    return [CatalogRow("synthetic", name, name in made, f"synthetic:{name}")
            for name in dict.fromkeys([*SUGGESTED_SETS, *made])]


SOURCE = DataSource(prefix="synthetic", example="synthetic:demo", open=open_synthetic, names=synthetic_names,
                    catalog=catalog_synthetic)
