"""The torch side of a split: images as uint8 tensors, masks as bool tensors.

Only resizing happens here. Rotations and the ImageNet normalisation are done by the model on whole batches
(on the GPU when there is one), so a loader worker ships compact uint8 pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.functional import pil_to_tensor

from adnkit.data.images import MIN_IMAGE_SIDE, read_image
from adnkit.data.samples import Sample
from adnkit.errors import DataError


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

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = read_image(self.samples[index].path, min_side=self.min_side)
        img = img.resize((self.image_size, self.image_size), Image.BILINEAR)
        return pil_to_tensor(img), index


def read_mask(sample: Sample, image_size: int) -> torch.Tensor:
    """The sample's ground-truth mask as bool [image_size, image_size]; all False if it has none."""
    if sample.mask is None or sample.label == 0:
        return torch.zeros(image_size, image_size, dtype=torch.bool)
    try:
        with Image.open(sample.mask) as mask:
            mask = mask.convert("L").resize((image_size, image_size), Image.NEAREST)
    except OSError as err:
        raise DataError(f"{sample.mask}: cannot read mask ({err}); replace or delete it") from None
    return torch.from_numpy(np.asarray(mask) > 0)  # 0/255 (MVTec) and 0/1 masks alike
