"""The torch side of a split: images as uint8 tensors, masks as bool tensors.

Only resizing happens here. Rotations and the ImageNet normalisation are done by the model on whole batches
(on the GPU when there is one), so a loader worker ships compact uint8 pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.functional import pil_to_tensor

from adnkit.core.errors import DataError
from adnkit.data.images import MIN_IMAGE_SIDE, read_image
from adnkit.data.samples import Sample

UNLABELLED = -1
"""The label of an image whose class is not known (a file given to `adnkit score`)."""


class ImageDataset(Dataset):
    """`dataset[i]` -> (uint8 tensor [3, image_size, image_size], i): sample i squashed to a square.

    Resizing is bilinear with antialiasing (PIL's filter widens when it shrinks), with no normalisation.
    """

    def __init__(self, samples: list[Sample], image_size: int, *, min_side: int = MIN_IMAGE_SIDE):
        self.samples = list(samples)
        self.image_size = int(image_size)
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.samples)

    @classmethod
    def of_files(cls, paths, image_size: int, *, min_side: int = MIN_IMAGE_SIDE) -> ImageDataset:
        """Unlabelled image files; every file is read once first, so that a bad one is a one-line error naming
        it before any work is done."""
        for path in paths:
            read_image(path, min_side=min_side)
        return cls([Sample(Path(p), UNLABELLED, "unknown", None) for p in paths], image_size, min_side=min_side)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = read_image(self.samples[index].path, min_side=self.min_side)
        img = img.resize((self.image_size, self.image_size), Image.BILINEAR)
        return pil_to_tensor(img), index


def load_image(path: str | Path, image_size: int, *, min_side: int = MIN_IMAGE_SIDE) -> tuple[np.ndarray, torch.Tensor]:
    """One image file as (the original, float RGB [H, W, 3] in [0, 1] at the file's own size; the network input,
    uint8 [3, S, S]): the same reader and resize as training and scoring."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found; check the path")
    original = np.asarray(read_image(path, min_side=min_side), dtype=np.float32) / 255.0
    return original, ImageDataset.of_files([path], image_size, min_side=min_side)[0][0]


def read_mask_file(path: str | Path, size_hw: tuple[int, int]) -> np.ndarray:
    """A ground-truth mask file (non-zero = defect) as bool [H, W], resized (nearest) to size_hw if needed.

    The one mask reader: 0/255 (MVTec) and 0/1 masks alike."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            grey = img.convert("L")
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read mask ({err}); replace or delete it") from None
    if (grey.height, grey.width) != tuple(size_hw):
        grey = grey.resize((size_hw[1], size_hw[0]), Image.NEAREST)
    return np.asarray(grey) > 0


def read_mask(sample: Sample, image_size: int) -> torch.Tensor:
    """The sample's ground-truth mask as bool [image_size, image_size]; all False if it has none."""
    if sample.mask is None or sample.label == 0:
        return torch.zeros(image_size, image_size, dtype=torch.bool)
    return torch.from_numpy(read_mask_file(sample.mask, (image_size, image_size)))
