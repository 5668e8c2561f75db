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
from adnkit.model.embedding import views_of
from adnkit.model.flow import nll_loss


class TrainingError(AdnkitError):
    """Training cannot go on (non-finite loss); the last good checkpoint is kept."""


def check_finite(loss: torch.Tensor, meta: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"loss became {loss.item()} at meta epoch {meta}, step {step}; the last good checkpoint is kept. "
            "Lower --lr, or check the data (constant or corrupt images)"
        )


def step(model, optimizer, rows: torch.Tensor, meta: int, step_index: int, embedded: bool) -> float:
    """One optimiser step on `rows` (embeddings when `embedded`, else normalised image views); the loss."""
    z, log_jac_det = model.flow_forward(rows) if embedded else model(rows)
    loss = nll_loss(z, log_jac_det)
    check_finite(loss, meta, step_index)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def epoch_cached(model, optimizer, pool: torch.Tensor, cfg: Config, gen: torch.Generator, meta: int) -> list[float]:
    """One pass over the training images on cached embeddings; train_transforms views per image drawn from its
    pool [N, V, D]."""
    n, v, d = pool.shape
    losses = []
    order = torch.randperm(n, generator=gen)
    for index, start in enumerate(range(0, n, cfg.batch_size)):
        idx = order[start:start + cfg.batch_size]
        if cfg.train_transforms <= v:
            pick = torch.rand(len(idx), v, generator=gen).argsort(dim=1)[:, :cfg.train_transforms]
        else:
            pick = torch.randint(v, (len(idx), cfg.train_transforms), generator=gen)
        rows = pool[idx[:, None], pick].reshape(-1, d).to(model.device)
        losses.append(step(model, optimizer, rows, meta, index, embedded=True))
    return losses


def epoch_images(model, optimizer, train_set, cfg: Config, gen: torch.Generator, meta: int) -> list[float]:
    """One pass over the training images with fresh random rotations through the backbone every step."""
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers)
    losses = []
    for index, (images, _) in enumerate(loader):
        angles = torch.rand(len(images), cfg.train_transforms, generator=gen, dtype=torch.float64) * 360.0 - 180.0
        rows = views_of(images.to(model.device), angles)
        losses.append(step(model, optimizer, rows, meta, index, embedded=False))
    return losses
