"""A category folder in MVTec AD layout, the one format every adnkit dataset is read from:

    <category>/train/good/*.png              defect-free training images
    <category>/test/good/*.png               defect-free test images (label 0)
    <category>/test/<defect>/*.png           defective test images (label 1), one folder per defect type
    <category>/ground_truth/<defect>/<name>_mask.png   optional masks (MVTec convention; <name>.png also found)

Folder names are matched loosely, because real datasets differ: case and "-", "_", " " are ignored, and the
good folder may be called good, normal or ok. Images lying directly in train/ are used too. Only images
directly inside these folders are read (no recursion); other files are ignored (see adnkit.data.images).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from adnkit.core.errors import DataError
from adnkit.data.images import IMAGE_EXTENSIONS, DataWarning, list_images
from adnkit.data.samples import Sample, Split

GOOD_NAMES = ("good", "normal", "ok")
"""Folder names (after normalisation) that hold defect-free images."""

LAYOUT_HINT = "MVTec layout: train/good/, test/good/, test/<defect>/"


def norm_name(name: str) -> str:
    """Lower case with "-", "_", spaces and other punctuation removed: "Vari-Grip" == "vari grip"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_child(folder: Path, *names: str) -> Path | None:
    """The sub-folder of `folder` whose normalised name equals one of `names` (first name wins)."""
    if not folder.is_dir():
        return None
    children = {norm_name(p.name): p for p in sorted(folder.iterdir()) if p.is_dir()}
    for name in names:
        if norm_name(name) in children:
            return children[norm_name(name)]
    return None


def _masks(ground_truth: Path | None, defect: str) -> dict[str, Path]:
    """{image stem: mask file} for one defect folder of ground_truth/."""
    folder = find_child(ground_truth, defect) if ground_truth else None
    masks: dict[str, Path] = {}
    for path in list_images(folder) if folder else []:
        stem = path.stem[: -len("_mask")] if path.stem.endswith("_mask") else path.stem
        masks.setdefault(stem, path)
    return masks


def load_folder(root: str | Path, *, dataset: str = "folder", category: str | None = None,
                name: str | None = None) -> Split:
    """List a category folder in MVTec layout (nothing is decoded here; load_split validates the images)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: folder not found; pass a category folder holding train/ and test/ "
                        f"({LAYOUT_HINT})")
    category = category or root.name
    name = name or f"{dataset}/{category}"
    exts = ", ".join(sorted(IMAGE_EXTENSIONS))

    train_dir = find_child(root, "train")
    if train_dir is None:
        raise DataError(f"{root}: no train/ folder; a category folder needs {LAYOUT_HINT}")
    good_train = find_child(train_dir, *GOOD_NAMES)
    train_paths = list_images(good_train) if good_train else []
    train_paths += list_images(train_dir)
    if not train_paths:
        where = good_train or train_dir / "good"
        raise DataError(f"{where}: no images found ({exts}); put the defect-free training images there")
    others = [p.name for p in sorted(train_dir.iterdir()) if p.is_dir() and p != good_train]
    if others:
        warnings.warn(f"{train_dir}: ignoring sub-folder(s) {others}; training uses only train/good/",
                      DataWarning, stacklevel=2)
    train = [Sample(p, 0, "good") for p in train_paths]

    test_dir = find_child(root, "test")
    if test_dir is None:
        raise DataError(f"{root}: no test/ folder; add test/good/ and test/<defect>/ with images "
                        f"({LAYOUT_HINT})")
    good_test = find_child(test_dir, *GOOD_NAMES)
    test = [Sample(p, 0, "good") for p in (list_images(good_test) if good_test else [])]
    if not test:
        where = good_test or test_dir / "good"
        raise DataError(f"{where}: no good test images found; put defect-free test images there "
                        f"(the AUROC needs good and defective test images)")
    ground_truth = find_child(root, "ground_truth")
    for folder in sorted(p for p in test_dir.iterdir() if p.is_dir() and p != good_test):
        masks = _masks(ground_truth, folder.name)
        test += [Sample(p, 1, folder.name, masks.get(p.stem)) for p in list_images(folder)]
    return Split(name=name, dataset=dataset, category=category, train=train, test=test)
