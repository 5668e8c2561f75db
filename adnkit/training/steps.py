"""One optimiser step of the flow, and one pass (epoch) over the training images, in its two forms.

- `epoch_cached`: the backbone is frozen, so the embeddings of a pool of rotated views per image were computed
  once; each step draws train_transforms views per image from that pool and only the flow runs;
- `epoch_images`: something in the backbone trains (or feature_cache_views is 0: fresh rotations, as the
  original code), so every step rotates the images anew and runs them through backbone and flow.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from adnkit.config import Config
from adnkit.core.errors import AdnkitError
from adnkit.model.embedding import PhaseTimer, untimed, views_of
from adnkit.model.flow import nll_loss


class TrainingError(AdnkitError):
    """Training cannot go on (non-finite loss); the last good checkpoint is kept."""


def check_finite(loss: torch.Tensor, meta: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"loss became {loss.item()} at meta epoch {meta}, step {step}; the last good checkpoint is kept. "
            "Lower --lr, or check the data (constant or corrupt images)"
        )


def step(model, optimizer, embeddings: torch.Tensor, meta: int, step_index: int,
         timer: PhaseTimer = untimed) -> float:
    """One optimiser step of the flow on `embeddings` [B, D] (with the backbone's graph when its attention
    blocks train); the loss. `timer` splits it into forward (with the loss), backward and optimizer."""
    with timer("forward"):
        z, log_jac_det = model.flow_forward(embeddings)
        loss = nll_loss(z, log_jac_det)
        check_finite(loss, meta, step_index)
    with timer("backward"):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    with timer("optimizer"):
        optimizer.step()
    return loss.item()


def epoch_cached(model, optimizer, pool: torch.Tensor, cfg: Config, gen: torch.Generator, meta: int,
                 timer: PhaseTimer = untimed) -> list[float]:
    """One pass over the training images on cached embeddings; train_transforms views per image drawn from its
    pool [N, V, D]."""
    n, v, d = pool.shape
    losses = []
    order = torch.randperm(n, generator=gen)
    for index, start in enumerate(range(0, n, cfg.batch_size)):
        with timer("batch"):
            idx = order[start:start + cfg.batch_size]
            if cfg.train_transforms <= v:
                pick = torch.rand(len(idx), v, generator=gen).argsort(dim=1)[:, :cfg.train_transforms]
            else:
                pick = torch.randint(v, (len(idx), cfg.train_transforms), generator=gen)
            rows = pool[idx[:, None], pick].reshape(-1, d).to(model.device)
        losses.append(step(model, optimizer, rows, meta, index, timer))
    return losses


def epoch_images(model, optimizer, train_set, cfg: Config, gen: torch.Generator, meta: int,
                 timer: PhaseTimer = untimed) -> list[float]:
    """One pass over the training images with fresh random rotations through the backbone every step."""
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers)
    losses = []
    batches = iter(loader)
    for index in range(len(loader)):
        with timer("decode"):
            images, _ = next(batches)
        with timer("views"):
            angles = torch.rand(len(images), cfg.train_transforms, generator=gen, dtype=torch.float64) * 360.0 - 180.0
            rows = views_of(images.to(model.device), angles)
        with timer("backbone"):
            embeddings = model.embed(rows)
        losses.append(step(model, optimizer, embeddings, meta, index, timer))
    return losses
