"""MVTec AD (Bergmann et al., CVPR 2019): 15 categories in MVTec layout. Licence CC BY-NC-SA 4.0.

The data is read from where the user put it (`mvtec:ROOT/CATEGORY`; `mvtec:CATEGORY` looks under
`<data_root>/mvtec/`). Downloading is opt-in (`adnkit data download mvtec --root DIR`): the official link has
moved several times, so the URL is a constant that `--url` or the ADNKIT_MVTEC_URL environment variable
overrides, and no checksum of the whole archive is pinned here (pass `--sha256` to check one).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pandas as pd

from adnkit.core.errors import DataError
from adnkit.data.download import download, extract
from adnkit.data.folder import GOOD_NAMES, load_folder
from adnkit.data.images import IMAGE_EXTENSIONS
from adnkit.data.samples import Split

MVTEC_URL = ("https://www.mydrive.ch/shares/38536/3830184030e49fe74747669442f0f282/download/"
             "420938113-1629952094/mvtec_anomaly_detection.tar.xz")
"""Default archive URL (it has moved before): --url or ADNKIT_MVTEC_URL override it."""
MVTEC_URL_ENV = "ADNKIT_MVTEC_URL"
ARCHIVE_NAME = "mvtec_anomaly_detection.tar.xz"

MVTEC_CATEGORIES: dict[str, tuple[int, int, int]] = {
    # category: (train good, test good, test defective)
    "bottle": (209, 20, 63), "cable": (224, 58, 92), "capsule": (219, 23, 109), "carpet": (280, 28, 89),
    "grid": (264, 21, 57), "hazelnut": (391, 40, 70), "leather": (245, 32, 92), "metal_nut": (220, 22, 93),
    "pill": (267, 26, 141), "screw": (320, 41, 119), "tile": (230, 33, 84), "toothbrush": (60, 12, 30),
    "transistor": (213, 60, 40), "wood": (247, 19, 60), "zipper": (240, 32, 119),
}
MVTEC_TEXTURES = ("carpet", "grid", "leather", "tile", "wood")

MVTEC_DEFECTS: dict[str, tuple[str, ...]] = {
    "bottle": ("broken_large", "broken_small", "contamination"),
    "cable": ("bent_wire", "cable_swap", "combined", "cut_inner_insulation", "cut_outer_insulation",
              "missing_cable", "missing_wire", "poke_insulation"),
    "capsule": ("crack", "faulty_imprint", "poke", "scratch", "squeeze"),
    "carpet": ("color", "cut", "hole", "metal_contamination", "thread"),
    "grid": ("bent", "broken", "glue", "metal_contamination", "thread"),
    "hazelnut": ("crack", "cut", "hole", "print"),
    "leather": ("color", "cut", "fold", "glue", "poke"),
    "metal_nut": ("bent", "color", "flip", "scratch"),
    "pill": ("color", "combined", "contamination", "crack", "faulty_imprint", "pill_type", "scratch"),
    "screw": ("manipulated_front", "scratch_head", "scratch_neck", "thread_side", "thread_top"),
    "tile": ("crack", "glue_strip", "gray_stroke", "oil", "rough"),
    "toothbrush": ("defective",),
    "transistor": ("bent_lead", "cut_lead", "damaged_case", "misplaced"),
    "wood": ("color", "combined", "hole", "liquid", "scratch"),
    "zipper": ("broken_teeth", "combined", "fabric_border", "fabric_interior", "rough", "split_teeth",
               "squeezed_teeth"),
}


def mvtec_root(root: str | Path) -> Path:
    """`root`, or its `mvtec_anomaly_detection/` sub-folder when the archive was unpacked with one."""
    root = Path(root).expanduser()
    nested = root / "mvtec_anomaly_detection"
    if not any((root / c).is_dir() for c in MVTEC_CATEGORIES) and nested.is_dir():
        return nested
    return root


def load_mvtec(root: str | Path, category: str) -> Split:
    """One MVTec AD category as a Split (masks from ground_truth/)."""
    root = mvtec_root(root)
    folder = root / category
    if not folder.is_dir():
        known = "" if category in MVTEC_CATEGORIES else f" ({category!r} is not an MVTec AD category: " \
            f"{', '.join(MVTEC_CATEGORIES)})"
        raise DataError(f"{folder}: MVTec AD category not found{known}; put the dataset under {root} "
                        f"(e.g. {root}/bottle/train/good) or run `adnkit data download mvtec --root {root}`")
    return load_folder(folder, dataset="mvtec", category=category, name=f"mvtec/{category}")


def _count(folder: Path | None) -> int:
    if folder is None or not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def verify_mvtec(root: str | Path, categories: list[str] | None = None) -> pd.DataFrame:
    """Expected against found image counts per category, missing/extra folders, defects without a mask.

    Counts files by extension without decoding them (fast); `load_split` decodes them when they are used.
    """
    root = mvtec_root(root)
    rows = []
    for category in categories or list(MVTEC_CATEGORIES):
        if category not in MVTEC_CATEGORIES:
            raise DataError(f"{category!r} is not an MVTec AD category; use some of: {', '.join(MVTEC_CATEGORIES)}")
        want_train, want_good, want_bad = MVTEC_CATEGORIES[category]
        folder = root / category
        test_dir, gt_dir = folder / "test", folder / "ground_truth"
        found_defects = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name not in GOOD_NAMES) \
            if test_dir.is_dir() else []
        expected = MVTEC_DEFECTS[category]
        missing = [] if folder.is_dir() else [f"{category}/"]
        missing += [f for f in ("train/good", "test/good") if folder.is_dir() and not (folder / f).is_dir()]
        missing += [f"test/{d}" for d in expected if folder.is_dir() and d not in found_defects]
        masks_missing = 0
        for defect in found_defects:
            masks = {p.stem for p in (gt_dir / defect).glob("*")} if (gt_dir / defect).is_dir() else set()
            masks_missing += sum(1 for p in (test_dir / defect).iterdir()
                                 if p.suffix.lower() in IMAGE_EXTENSIONS and f"{p.stem}_mask" not in masks)
        row = {
            "category": category,
            "train": _count(folder / "train" / "good"), "train_expected": want_train,
            "test_good": _count(test_dir / "good"), "test_good_expected": want_good,
            "test_defective": sum(_count(test_dir / d) for d in found_defects), "test_defective_expected": want_bad,
            "missing": ", ".join(missing), "extra": ", ".join(d for d in found_defects if d not in expected),
            "masks_missing": masks_missing,
        }
        row["ok"] = (row["train"] == want_train and row["test_good"] == want_good
                     and row["test_defective"] == want_bad and not missing and not row["extra"]
                     and masks_missing == 0)
        rows.append(row)
    return pd.DataFrame(rows)


def download_mvtec(root: str | Path, *, url: str | None = None, sha256: str | None = None,
                   categories: list[str] | None = None, keep_archive: bool = False,
                   progress: bool = True) -> pd.DataFrame:
    """Download the MVTec AD archive into `root`, unpack it (only `categories` if given), verify it.

    The URL is `url`, else $ADNKIT_MVTEC_URL, else MVTEC_URL. Returns verify_mvtec's table.
    """
    root = Path(root).expanduser()
    for category in categories or []:
        if category not in MVTEC_CATEGORIES:
            raise DataError(f"{category!r} is not an MVTec AD category; use some of: {', '.join(MVTEC_CATEGORIES)}")
    url = url or os.environ.get(MVTEC_URL_ENV) or MVTEC_URL
    archive = download(url, root / ARCHIVE_NAME, sha256=sha256, progress=progress)

    def wanted(name: str) -> bool:
        parts = [p for p in PurePosixPath(name).parts if p not in (".", "mvtec_anomaly_detection")]
        return not categories or not parts or parts[0] in categories

    extract(archive, root, include=wanted, progress=progress)
    if not keep_archive:
        archive.unlink()
    return verify_mvtec(root, categories)
