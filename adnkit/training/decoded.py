"""The training images decoded once, for runs that rotate fresh views every step.

With fresh rotations (feature_cache_views 0, or a backbone whose attention trains) every epoch reads all training
images again, and reading, decoding and resizing a file costs several milliseconds: on the paper recipe at 256
px that was about as much as the rotations themselves. `decoded_once` reads them once into one uint8 tensor (423
ELPV images at 256 px: 83 MB) and serves them from memory, in the same order, so the batches and the numbers are
the same. Sets larger than DECODED_MAX_BYTES are read from their files every epoch, as before.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from adnkit.data.dataset import ImageDataset

DECODED_MAX_BYTES = 2 << 30
"""The most memory the decoded training images may take (2 GiB: 11 k images at 256 px, 3.5 k at 448 px)."""


class DecodedImages(Dataset):
    """`dataset[i]` -> (uint8 image [3, S, S], i), from one tensor [N, 3, S, S] in memory."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], index


def decoded_once(dataset: ImageDataset, num_workers: int = 0) -> Dataset:
    """The images of `dataset` decoded into memory (DecodedImages), or `dataset` itself when they would take more
    than DECODED_MAX_BYTES."""
    n, side = len(dataset), dataset.image_size
    if n * 3 * side * side > DECODED_MAX_BYTES:
        return dataset
    images = torch.empty(n, 3, side, side, dtype=torch.uint8)
    for batch, idx in DataLoader(dataset, batch_size=32, shuffle=False, num_workers=num_workers):
        images[idx] = batch
    return DecodedImages(images)
