"""The validation split: good training images held out of training, so that a threshold or a model can be
chosen without looking at the test labels.

Which images (the same for every seed, machine and Python version, like the ELPV test split): the training
images are ordered by the CRC-32 of their path relative to the folder that holds them all (for one folder,
the file name), ties broken by that path, and the first `size` of that order form the validation split. The
choice depends on nothing but the file names, and it is made before `max_train_images` picks its subset from
the rest, so a few-shot run and a full run hold out the same images.

How many (n = training images found, f = val_fraction, m = val_min_images, b = batch_size):
    f == 0                       -> none (the validation split is off);
    otherwise                    -> k = max(1, round(f * n)), raised towards m as far as the training set
                                    allows: the raise never takes more than half of the images, nor leaves
                                    fewer than b: max(k, min(m, n // 2, n - b));
    fewer than b images left     -> DataError: the set is too small for both a validation split and a full
                                    batch of training images (use --val-fraction 0 or a smaller --batch-size).
E.g. ELPV mono (470 training cells): 47; synthetic:demo (60): 8; 30 images at batch 24: 6; 20 at batch 24:
an error.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path, PurePath

from adnkit.core.errors import DataError
from adnkit.data.samples import Split


def validation_order(paths: list[Path]) -> list[int]:
    """Indices of `paths` in validation order: by CRC-32 of the path relative to the common folder, then by
    that relative path (posix spelling, so Windows and Linux agree)."""
    if not paths:
        return []
    try:
        common = Path(os.path.commonpath([str(Path(p).parent) for p in paths]))
        names = [PurePath(os.path.relpath(p, common)).as_posix() for p in paths]
    except ValueError:  # Windows paths on different drives share no folder: fall back to the file names
        names = [Path(p).name for p in paths]
    return sorted(range(len(paths)), key=lambda i: (zlib.crc32(names[i].encode("utf-8")), names[i]))


def validation_size(n: int, fraction: float, min_images: int, batch_size: int, *, where: str = "dataset") -> int:
    """How many of `n` training images go to the validation split (see the module docstring); DataError when
    the rest would be fewer than `batch_size`. `where` names the dataset in the message."""
    if fraction <= 0 or n == 0:
        return 0
    by_fraction = max(1, round(fraction * n))
    size = max(by_fraction, min(min_images, n // 2, n - batch_size))
    if n - size < batch_size:
        raise DataError(
            f"{where}: a validation split of {size} of its {n} training images (val_fraction={fraction:g}) "
            f"leaves {n - size}, fewer than batch_size={batch_size}; use --val-fraction 0 (no validation split) "
            f"or a smaller --batch-size")
    return size


def hold_out_validation(split: Split, fraction: float = 0.1, min_images: int = 8, batch_size: int = 1) -> Split:
    """Move a validation split of `split.train` into `split.val` (label 0); the training images keep their order.

    Raises DataError (one line) when the training set is too small for both; see the module docstring.
    """
    train = list(split.train)
    size = validation_size(len(train), fraction, min_images, batch_size, where=split.name)
    chosen = set(validation_order([s.path for s in train])[:size])
    split.val = [s for i, s in enumerate(train) if i in chosen]
    split.train = [s for i, s in enumerate(train) if i not in chosen]
    return split
