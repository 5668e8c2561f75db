"""Rotated views and ImageNet normalisation, applied to batches of tensors.

DifferNet sees every image under several rotations: random ones while training (RandomRotation(180)) and
T of them at test time, averaged into one score. Here the rotations run on image batches with torchvision's
functional `rotate` (nearest neighbour, black corners, as the original PIL pipeline), before normalisation,
so that an image is decoded and resized once and all its views come from that one tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def fixed_angles(n: int) -> list[float]:
    """n evenly spaced angles k * 360 / n (degrees), the default test-time rotations."""
    return [k * 360.0 / n for k in range(n)]


def random_angles(n: int, generator: torch.Generator | None = None) -> list[float]:
    """n angles uniform in [-180, 180), like torchvision's RandomRotation(180)."""
    return (torch.rand(n, generator=generator) * 360.0 - 180.0).tolist()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [.., 3, H, W] -> float in [0, 1] (float input is returned as float32)."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


def normalize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> ImageNet-normalised network input."""
    return TF.normalize(images, IMAGENET_MEAN, IMAGENET_STD)


def rotate_views(images: torch.Tensor, angles: Sequence[float]) -> torch.Tensor:
    """Every image under every angle: [B, 3, H, W] -> [B * T, 3, H, W], the T views of an image adjacent."""
    views = torch.stack([TF.rotate(images, float(a)) for a in angles], dim=1)  # [B, T, 3, H, W]
    return views.flatten(0, 1)


def rotate_rows(images: torch.Tensor, angles: Sequence[float]) -> torch.Tensor:
    """Row i rotated by angles[i]: [N, 3, H, W] -> [N, 3, H, W] (per-row random training rotations)."""
    return torch.stack([TF.rotate(img, float(a)) for img, a in zip(images, angles, strict=True)])
