"""The scoring pipeline of a trained model as one nn.Module, ready for torch.onnx.export.

    uint8 images [B, 3, S, S] --/255--> T fixed rotations (grid_sample on constant grids) --ImageNet
    normalisation--> model(views): multi-scale AlexNet embedding (+ attention) and the FrEIA flow -->
    mean z^2 over dims --> mean over the T views --> scores [B]

It calls the model's own methods (`DifferNet.forward` = flow_forward(embed(x)), `view_scores`), so whatever
the model adds between the embedding and the flow is exported with it. Only the rotations are re-expressed:
`rotate_rows` builds its grid from the angles at run time, and an ONNX runtime's own AffineGrid rounds that
grid differently (a few pixels of a 448 px view move); constant grids from `rotation_grid` keep the views
pixel-identical to adnkit's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from adnkit.model.views import fixed_angles, normalize, rotation_grid


class FixedRotations(nn.Module):
    """[B, 3, S, S] float -> [B * T, 3, S, S]: every image under the T angles, the T views of an image adjacent
    (as adnkit.model.views.rotate_views), nearest neighbour with zero corners."""

    def __init__(self, image_size: int, angles: list[float]):
        super().__init__()
        self.n_views = len(angles)
        self.register_buffer("grid", rotation_grid(angles, [len(angles), 3, image_size, image_size]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        views = images.repeat_interleave(self.n_views, dim=0)
        grid = self.grid.repeat(batch, 1, 1, 1)
        return F.grid_sample(views, grid, mode="nearest", padding_mode="zeros", align_corners=False)


class ScoringGraph(nn.Module):
    """uint8 images [B, 3, S, S] (already resized to the run's image_size) -> anomaly scores [B] (float32).

    The same numbers as `DifferNet.score` with the run's fixed test angles k * 360 / T."""

    def __init__(self, model):
        super().__init__()
        cfg = model.cfg
        self.model = model.float().eval()
        self.rotations = FixedRotations(cfg.image_size, fixed_angles(cfg.test_transforms))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch = images.shape[0]
        views = normalize(self.rotations(images.float() / 255.0))
        z, _ = self.model(views)
        return self.model.view_scores(z).view(batch, self.rotations.n_views).mean(dim=1)
