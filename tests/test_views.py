"""Batched rotations equal torchvision's rotate; fixed angles; normalisation."""

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from adnkit.model.views import IMAGENET_MEAN, fixed_angles, normalize, rotate_rows, rotate_views, to_unit


def test_batched_rotation_is_pixel_identical_to_torchvision():
    images = torch.rand(5, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    angles = [0.0, 30.0, -75.5, 123.0, 180.0]
    expected = torch.stack([TF.rotate(img, a) for img, a in zip(images, angles, strict=True)])
    assert torch.equal(rotate_rows(images, angles), expected)


def test_rotate_views_keeps_the_views_of_an_image_adjacent():
    images = torch.rand(2, 3, 16, 16)
    views = rotate_views(images, [0.0, 90.0, 180.0])
    assert views.shape == (6, 3, 16, 16)
    assert torch.equal(views[0], images[0]) and torch.equal(views[3], images[1])
    assert torch.equal(views[4], TF.rotate(images[1], 90.0))
    assert torch.equal(views[2], torch.rot90(images[0], 2, dims=(1, 2)))


def test_fixed_angles_and_normalisation():
    assert fixed_angles(4) == [0.0, 90.0, 180.0, 270.0]
    gray = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert normalize(gray).abs().max() < 1e-6
    assert to_unit(torch.full((3, 2, 2), 255, dtype=torch.uint8)).max() == pytest.approx(1.0)


def test_uint8_images_rotate_to_uint8_with_the_same_pixels():
    images = torch.randint(0, 256, (2, 3, 20, 20), dtype=torch.uint8)
    rotated = rotate_rows(images, [45.0, -90.0])
    assert rotated.dtype == torch.uint8
    assert torch.equal(rotated, rotate_rows(images.float(), [45.0, -90.0]).to(torch.uint8))
