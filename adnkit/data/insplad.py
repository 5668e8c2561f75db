"""InsPLAD-fault, unsupervised split (Vieira e Silva et al., 2023): power-line assets photographed by drones.
Licence CC BY-NC; its authors distribute it from a cloud drive (see data/README.md), so it is read from
where the user unpacked it:

    ROOT/unsupervised_anomaly_detection/<asset>/{train,test}/<label>/*.jpg     (or ROOT is that folder)

Copies of the data differ in spelling, so names are matched loosely: case and "-", "_", " " are ignored
("Glass Insulator" == "glass-insulator" == "glass_insulator"), and the defect-free label may be good, normal
or Good. `insplad:ASSET` alone looks under `<data_root>/insplad/`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from adnkit.core.errors import DataError
from adnkit.data.folder import GOOD_NAMES, find_child, load_folder, norm_name
from adnkit.data.images import list_images
from adnkit.data.samples import Split

INSPLAD_ASSETS: dict[str, tuple[int, int, dict[str, int]]] = {
    # asset: (train good, test good, {defect: test images})
    "glass-insulator": (2298, 581, {"missing-cap": 90}),
    "lightning-rod-suspension": (462, 117, {"rust": 50}),
    "polymer-insulator-upper-shackle": (935, 235, {"rust": 102}),
    "vari-grip": (477, 114, {"bird-nest": 63, "rust": 48}),
    "yoke-suspension": (4834, 1207, {"rust": 49}),
}
UNSUPERVISED_FOLDER = "unsupervised_anomaly_detection"


def canonical_asset(asset: str) -> str | None:
    """The INSPLAD_ASSETS key that `asset` spells (any case or separator), else None."""
    return next((a for a in INSPLAD_ASSETS if norm_name(a) == norm_name(asset)), None)


def asset_folders(root: str | Path) -> Path:
    """The folder that holds the asset folders: ROOT/unsupervised_anomaly_detection (nested once) or ROOT."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder}: InsPLAD-fault folder not found; unpack unsupervised_anomaly_detection.zip "
                        f"there (see data/README.md)")
    for _ in range(2):  # the zip sometimes unpacks to unsupervised_anomaly_detection/unsupervised_...
        inner = find_child(folder, UNSUPERVISED_FOLDER)
        if inner is None:
            break
        folder = inner
    return folder


def find_asset(root: str | Path, asset: str) -> Path:
    """The folder of `asset` under `root`, matched loosely; DataError listing what is there otherwise."""
    folder = asset_folders(root)
    found = find_child(folder, asset)
    if found is None:
        present = sorted(p.name for p in folder.iterdir() if p.is_dir())
        raise DataError(f"{folder}: no InsPLAD-fault asset {asset!r}; found {present or 'no folders'}; use one "
                        f"of {', '.join(INSPLAD_ASSETS)} with `insplad:{root}/ASSET`")
    return found


def load_insplad(root: str | Path, asset: str) -> Split:
    """One asset of the unsupervised split as a Split (no masks: InsPLAD-fault labels whole images)."""
    folder = find_asset(root, asset)
    category = canonical_asset(folder.name) or folder.name
    return load_folder(folder, dataset="insplad", category=category, name=f"insplad/{category}")


def verify_insplad(root: str | Path, assets: list[str] | None = None) -> pd.DataFrame:
    """Expected against found image counts per asset (files counted, not decoded)."""
    base = asset_folders(root)
    rows = []
    for asset in assets or list(INSPLAD_ASSETS):
        key = canonical_asset(asset)
        if key is None:
            raise DataError(f"{asset!r} is not an InsPLAD-fault asset; use some of: {', '.join(INSPLAD_ASSETS)}")
        want_train, want_good, want_defects = INSPLAD_ASSETS[key]
        folder = find_child(base, key)
        train_dir = find_child(folder, "train") if folder else None
        test_dir = find_child(folder, "test") if folder else None
        good_train = find_child(train_dir, *GOOD_NAMES) if train_dir else None
        good_test = find_child(test_dir, *GOOD_NAMES) if test_dir else None
        defects = {p.name: len(list_images(p)) for p in sorted(test_dir.iterdir())
                   if p.is_dir() and p != good_test} if test_dir else {}
        missing = [name for name, path in (("asset folder", folder), ("train/good", good_train),
                                           ("test/good", good_test)) if path is None]
        row = {
            "asset": key, "folder": folder.name if folder else "",
            "train": len(list_images(good_train)) if good_train else 0, "train_expected": want_train,
            "test_good": len(list_images(good_test)) if good_test else 0, "test_good_expected": want_good,
            "test_defective": sum(defects.values()), "test_defective_expected": sum(want_defects.values()),
            "defects": ", ".join(f"{k} {v}" for k, v in defects.items()),
            "defects_expected": ", ".join(f"{k} {v}" for k, v in want_defects.items()),
            "missing": ", ".join(missing),
        }
        row["ok"] = (not missing and row["train"] == want_train and row["test_good"] == want_good
                     and row["test_defective"] == row["test_defective_expected"])
        rows.append(row)
    return pd.DataFrame(rows)
