"""What a dataset is to the rest of adnkit: a list of labelled image files, split into train and test.

Every loader (MVTec-layout folders, MVTec AD, InsPLAD-fault, wafer sets, WM-811K, ELPV, synthetic) returns a
`Split`; the model and the training loop see nothing else. Training images are all defect-free (label 0);
test images are labelled 0 ("good") or 1 (any defect folder), as in DifferNet. `load_split` also holds some
good training images out as a validation split (`val`, see adnkit.data.validation): never trained on, used to
pick thresholds and models without test labels.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Sample:
    """One image file and its label."""

    path: Path
    """A real image file on disk."""
    label: int
    """0 = good, 1 = anomalous."""
    defect: str
    """"good" or the name of the defect folder it came from."""
    mask: Path | None = None
    """Ground-truth mask file (white = defect) if the dataset has one."""


@dataclass
class Split:
    """A dataset category: defect-free training images and a labelled test set."""

    name: str
    """Short id used in tables and run folders, e.g. "mvtec/bottle", "elpv/mono", "synthetic/demo"."""
    dataset: str
    """"elpv", "mvtec", "insplad", "wafer", "wm811k", "folder" or "synthetic"."""
    category: str
    train: list[Sample]
    """All label 0."""
    test: list[Sample]
    ignored: list[Path] = field(default_factory=list)
    """Files found but not used: bad images dropped with skip_bad_images (non-image files are not listed)."""
    val: list[Sample] = field(default_factory=list)
    """Good images taken out of the training set (label 0), never trained on; empty until load_split holds
    them out (val_fraction > 0)."""

    @property
    def test_labels(self) -> list[int]:
        return [s.label for s in self.test]

    @property
    def defects(self) -> list[str]:
        """Defect names present in the test set, sorted ("good" excluded)."""
        return sorted({s.defect for s in self.test if s.label == 1})

    def counts(self) -> pd.DataFrame:
        """Images per split ("train", "val" when there is one, "test") and defect: columns split, defect, label,
        images."""
        rows = []
        for part, samples in (("train", self.train), ("val", self.val), ("test", self.test)):
            per = Counter((s.defect, s.label) for s in samples)
            for (defect, label), n in sorted(per.items(), key=lambda kv: (kv[0][1], kv[0][0])):
                rows.append({"split": part, "defect": defect, "label": label, "images": n})
        return pd.DataFrame(rows, columns=["split", "defect", "label", "images"])

    def __repr__(self) -> str:  # the default repr would print thousands of samples
        n_bad = sum(s.label for s in self.test)
        return (f"Split({self.name!r}, train={len(self.train)}, val={len(self.val)}, test={len(self.test)} "
                f"(good {len(self.test) - n_bad}, defective {n_bad}), defects={self.defects})")


def subset_train(split: Split, max_images: int, seed: int) -> Split:
    """Keep at most `max_images` training images (0 = all), chosen by `seed`; order stays sorted by path.

    Used for few-shot runs (DifferNet claims to work with 16 training images).
    """
    if max_images <= 0 or len(split.train) <= max_images:
        return split
    chosen = random.Random(seed).sample(split.train, max_images)
    split.train = sorted(chosen, key=lambda s: str(s.path))
    return split
