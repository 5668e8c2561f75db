"""ELPV: electroluminescence images of solar-cell crops (Buerhop-Lutz et al. 2018; Deitsch et al. 2019).

2624 greyscale cells of 300x300 px, "mono" or "poly" crystalline, each with an expert defect probability
0, 1/3, 2/3 or 1. Licence CC BY-NC-SA 4.0. It ships inside the PyPI package `elpv-dataset`, so it is the one
real industrial set that installs offline. Only the label file is read here (`<package>/data/labels.csv`);
the images are opened when used (the package's own load_dataset() would load all of them into memory).

The anomaly-detection split (same for every seed, so runs with different seeds see the same test set):
- train: the cells with probability 0 that are not held out;
- test good: a held-out share `test_good_fraction` of the probability-0 cells: the cells are ordered by the
  CRC-32 of their file name and the first round(fraction x n) taken, so the choice is stable across
  machines, Python versions and seeds;
- test defective: cells with probability >= `threshold` (defect named "p=0.67", "p=1.00");
- cells with 0 < p < threshold are left out (the experts were unsure).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from adnkit.core.errors import DataError
from adnkit.data.samples import Sample, Split

ELPV_TYPES = ("mono", "poly")
_EPS = 1e-9  # probabilities are stored as 0.6666666666666666


def elpv_dir() -> Path:
    """The `data/` folder of the installed elpv-dataset package."""
    try:
        import elpv_dataset
    except ImportError:
        raise DataError("elpv: the ELPV data is not installed; run `pip install elpv-dataset` "
                        "(or `pip install adnkit[data]`)") from None
    folder = Path(elpv_dataset.__file__).parent / "data"
    if not (folder / "labels.csv").is_file():
        raise DataError(f"{folder}/labels.csv: missing from the elpv-dataset package; reinstall it with "
                        f"`pip install --force-reinstall elpv-dataset`")
    return folder


def read_labels(folder: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image paths, defect probabilities, types) from labels.csv (whitespace-separated, no header)."""
    folder = folder or elpv_dir()
    table = np.genfromtxt(folder / "labels.csv", dtype=None, encoding="utf-8",
                          names=("path", "probability", "type"))
    return table["path"], table["probability"].astype(float), table["type"]


def _stable_key(name: str) -> int:
    return zlib.crc32(Path(name).name.encode())


def load_elpv(kind: str, *, threshold: float = 2 / 3, test_good_fraction: float = 0.2) -> Split:
    """The ELPV anomaly-detection split for `kind` ("mono" or "poly"); see the module docstring."""
    if kind not in ELPV_TYPES:
        raise DataError(f"elpv:{kind}: unknown cell type; use elpv:mono or elpv:poly")
    if not 0 < threshold <= 1:
        raise DataError(f"elpv_defect_threshold={threshold}: must lie in (0, 1]; e.g. --elpv-defect-threshold 0.67")
    if not 0 < test_good_fraction < 1:
        raise DataError(f"elpv_test_good_fraction={test_good_fraction}: must lie in (0, 1); "
                        f"e.g. --elpv-test-good-fraction 0.2")
    folder = elpv_dir()
    paths, probs, types = read_labels(folder)
    mine = types == kind
    good = sorted((str(p) for p in paths[mine & (probs == 0)]), key=lambda p: (_stable_key(p), p))
    n_test = round(test_good_fraction * len(good))
    held_out = set(good[:n_test])
    train = [Sample(folder / p, 0, "good") for p in sorted(good) if p not in held_out]
    test = [Sample(folder / p, 0, "good") for p in sorted(held_out)]
    bad = mine & (probs >= threshold - _EPS)
    test += [Sample(folder / p, 1, f"p={q:.2f}") for p, q in sorted(zip(paths[bad], probs[bad], strict=True))]
    return Split(name=f"elpv/{kind}", dataset="elpv", category=kind, train=train, test=test)
