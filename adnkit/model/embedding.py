"""Embeddings of rotated views, computed in batches and (when the backbone is frozen) once per run.

DifferNet's backbone never trains, so the embedding of a given (image, angle) never changes. Computing the
embeddings of a fixed pool of rotated views once, and letting the flow train on those, removes AlexNet from
the training loop; the same holds for the T fixed test rotations, which every evaluation reuses.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from adnkit.model.views import normalize, rotate_rows, to_unit

AngleFn = Callable[[torch.Tensor], torch.Tensor]
"""indices of a batch of images [B] -> angles [B, V] in degrees."""

PhaseTimer = Callable[[str], AbstractContextManager]
"""`timer(name)` opens the phase `name` of a timed run (adnkit.training.phases); `untimed` times nothing."""


def untimed(name: str) -> AbstractContextManager:
    """The timer of code that no run is timing."""
    return nullcontext()


def fixed_angle_fn(angles: list[float]) -> AngleFn:
    """Every image gets the same V angles."""
    table = torch.tensor(angles, dtype=torch.float64)
    return lambda idx: table.expand(len(idx), -1)


def pooled_angle_fn(n_images: int, n_views: int, seed: int) -> AngleFn:
    """Image i gets its own V random angles in [-180, 180), fixed by the seed (the training view pool)."""
    generator = torch.Generator().manual_seed(seed)
    table = torch.rand(n_images, n_views, generator=generator, dtype=torch.float64) * 360.0 - 180.0
    return lambda idx: table[idx]


def views_of(images: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """uint8/float images [B, 3, S, S] and angles [B, V] -> normalised views [B * V, 3, S, S]."""
    images = to_unit(images)
    return normalize(rotate_rows(images.repeat_interleave(angles.shape[1], dim=0), angles.flatten()))


@torch.no_grad()
def embed_views(
    model,
    dataset: Dataset,
    n_views: int,
    angle_fn: AngleFn,
    *,
    rows_per_batch: int = 96,
    num_workers: int = 0,
    desc: str = "embedding",
    progress: bool = True,
    timer: PhaseTimer = untimed,
) -> torch.Tensor:
    """Embeddings [N, V, D] (float32, on the CPU) of every image of `dataset` under its V angles.

    `dataset` yields (uint8 image [3, S, S], index). About `rows_per_batch` views go through the backbone at
    once, all views of an image in the same batch. `timer` splits the time into decode (reading and resizing
    the images), views (rotation and normalisation) and backbone.
    """
    images_per_batch = max(1, rows_per_batch // n_views)
    loader = DataLoader(dataset, batch_size=images_per_batch, shuffle=False, num_workers=num_workers)
    device = model.device
    out = torch.empty(len(dataset), n_views, model.cfg.embedding_dim)
    batches = iter(tqdm(loader, desc=desc, unit="batch", disable=not progress, leave=False))
    while True:
        with timer("decode"):
            batch = next(batches, None)
        if batch is None:
            return out
        images, idx = batch
        with timer("views"):
            views = views_of(images.to(device), angle_fn(idx))
        with timer("backbone"):
            out[idx] = model.embed(views).view(len(idx), n_views, -1).cpu()
