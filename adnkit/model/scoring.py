"""The one path from images to anomaly scores: images -> rotated views -> embeddings -> flow -> mean z^2.

Training's evaluation, `adnkit score`, the explanations and the explorer all score through here, so a
setting such as `random_test_rotations` means the same everywhere:

    score_dataset(model, dataset)   a dataset of uint8 images -> scores [N] (batched, no autograd)
    score_images(model, images)     a tensor of images [B, 3, S, S] -> scores [B] (differentiable when the
                                    images require grad: the gradient maps use it)
    score_embeddings(model, emb)    cached view embeddings [N, V, D] -> scores [N] (training re-scores its
                                    cached test views after every meta epoch)
    scores_and_loss(model, emb)     the same scores and the mean training loss, from one flow pass (the
                                    validation split)

An image's score is the mean over its T test views of mean(z^2) over the dimensions (DifferNet's score, no
log-det). The T views are the fixed angles k * 360 / T, or, with `random_test_rotations`, random angles drawn
per image from seed + 1 (as the original code does, but reproducible).
"""

from __future__ import annotations

import numpy as np
import torch

from adnkit.config.settings import Config
from adnkit.model.embedding import AngleFn, PhaseTimer, embed_views, fixed_angle_fn, pooled_angle_fn, untimed, views_of
from adnkit.model.flow import nll_loss
from adnkit.model.views import fixed_angles

ROWS_PER_BATCH = 96
"""Views through the backbone at once when embedding (the paper's 24 images x 4 rotations)."""


def scoring_angle_fn(cfg: Config, n_images: int) -> AngleFn:
    """The test-time angles of images 0..n_images-1: fixed k*360/T, or per-image random ones."""
    if cfg.random_test_rotations:
        return pooled_angle_fn(n_images, cfg.test_transforms, seed=cfg.seed + 1)
    return fixed_angle_fn(fixed_angles(cfg.test_transforms))


def embed_test_views(model, dataset, progress: bool = False, desc: str = "test views",
                     timer: PhaseTimer = untimed) -> torch.Tensor:
    """Embeddings [N, T, D] of every image of `dataset` under its T test rotations."""
    cfg = model.cfg
    return embed_views(model, dataset, cfg.test_transforms, scoring_angle_fn(cfg, len(dataset)),
                       rows_per_batch=ROWS_PER_BATCH, num_workers=cfg.num_workers, desc=desc, progress=progress,
                       timer=timer)


@torch.no_grad()
def score_embeddings(model, embeddings: torch.Tensor, rows_per_batch: int = 4096) -> torch.Tensor:
    """View embeddings [N, V, D] -> anomaly scores [N]: mean over views of mean(z^2) (float64, CPU)."""
    n, v, d = embeddings.shape
    flat = embeddings.reshape(n * v, d)
    scores = []
    for start in range(0, n * v, rows_per_batch):
        z, _ = model.flow_forward(flat[start:start + rows_per_batch].to(model.device))
        scores.append(model.view_scores(z).double().cpu())
    return torch.cat(scores).view(n, v).mean(dim=1)


def score_dataset(model, dataset, progress: bool = False, desc: str = "scoring") -> np.ndarray:
    """Scores [N] of a dataset yielding (uint8 image [3, S, S], index), under the model's test rotations."""
    return score_embeddings(model, embed_test_views(model, dataset, progress, desc)).numpy()


def score_images(model, images: torch.Tensor, angles=None) -> torch.Tensor:
    """Images [B, 3, S, S] (uint8, or float in [0, 1]) -> anomaly scores [B] (float32, on the model's device).

    `angles`: None for the model's test rotations (honouring random_test_rotations), a list of V angles
    applied to every image, or a tensor [B, V]. All B * V views go through the network as one batch. Autograd
    runs only when the images require grad.
    """
    n = images.shape[0]
    if angles is None:
        table = scoring_angle_fn(model.cfg, n)(torch.arange(n))
    else:
        table = torch.as_tensor(angles, dtype=torch.float64)
        table = table.expand(n, -1) if table.dim() == 1 else table
    images = images.to(model.device)
    with torch.set_grad_enabled(torch.is_grad_enabled() and images.requires_grad):
        z, _ = model(views_of(images, table))
        return model.view_scores(z).view(n, table.shape[1]).mean(dim=1)


@torch.no_grad()
def scores_and_loss(model, embeddings: torch.Tensor, rows_per_batch: int = 4096) -> tuple[torch.Tensor, float]:
    """One pass through the flow over view embeddings [N, V, D]: the anomaly scores [N] (as score_embeddings) and
    the training loss (adnkit.model.flow.nll_loss) averaged over all N * V rows, the validation loss that
    selects a model without test labels."""
    n, v, d = embeddings.shape
    flat = embeddings.reshape(n * v, d)
    scores, total = [], 0.0
    for start in range(0, n * v, rows_per_batch):
        rows = flat[start:start + rows_per_batch].to(model.device)
        z, log_jac_det = model.flow_forward(rows)
        scores.append(model.view_scores(z).double().cpu())
        total += float(nll_loss(z, log_jac_det)) * len(rows)
    return torch.cat(scores).view(n, v).mean(dim=1), total / max(n * v, 1)
