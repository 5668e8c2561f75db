"""`insplad:ROOT/ASSET`: one InsPLAD-fault asset, unsupervised split (adnkit.data.insplad); `insplad:ASSET` looks
in <data_root>/insplad, and `insplad:ROOT` in a benchmark stands for every asset under ROOT."""

from __future__ import annotations

from pathlib import Path

from adnkit.data.categories import expand_categories, root_and_name
from adnkit.data.folder import find_child
from adnkit.data.insplad import INSPLAD_ASSETS, UNSUPERVISED_FOLDER, asset_folders, load_insplad
from adnkit.data.samples import Split
from adnkit.data.sources.registry import CatalogRow, DataSource


def open_insplad(arg: str, cfg) -> Split:
    return load_insplad(*root_and_name(arg, Path(cfg.data_root).expanduser() / "insplad"))


def expand_insplad(arg: str, data_root: Path) -> list[str] | None:
    return expand_categories("insplad", arg, data_root, inner=(UNSUPERVISED_FOLDER,))


def catalog_insplad(data_root: Path) -> list[CatalogRow]:
    """The five assets, present where <data_root>/insplad holds their folder (names matched loosely)."""
    root = data_root / "insplad"
    assets = asset_folders(root) if root.is_dir() else None
    rows = []
    for asset in INSPLAD_ASSETS:
        found = find_child(assets, asset) if assets else None
        rows.append(CatalogRow("insplad", asset, found is not None, f"insplad:{found or root / asset}"))
    return rows


SOURCE = DataSource(prefix="insplad", example="insplad:data/insplad/vari-grip", open=open_insplad,
                    expand=expand_insplad, catalog=catalog_insplad)
