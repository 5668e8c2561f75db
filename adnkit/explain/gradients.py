"""DifferNet's own localisation: gradient maps of the anomaly score w.r.t. the input (docs/method.md).

For each of R fixed rotations k * 360 / R (default cfg.test_transforms) the gradient of 0.5 * ||z||^2 w.r.t.
that rotated (normalised) input view is rotated back, Gaussian-blurred (sigma 3 px at the network's
resolution); |.| is averaged over the rotations, squared, and averaged over the colour channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from adnkit.explain.methods import check_map
from adnkit.model.views import fixed_angles, normalize, rotate_views, to_unit


def gradient_map(model, x_unit: torch.Tensor, rotations: int | None = None, sigma: float = 3.0,
                 channels: str = "mean", batch: int = 16, on_blank: str = "raise") -> np.ndarray:
    """DifferNet's localisation of ONE image x_unit [3, S, S] (or [1, 3, S, S]) in [0, 1] -> float32 [S, S],
    not normalised: mean over channels of (mean over rotations of |blur(rotate_back(grad))|)^2.

    Each of the R views k * 360 / R (default cfg.test_transforms) is its own leaf; the gradient of its
    0.5 * ||z||^2 w.r.t. it (normalised input) is rotated back by -angle and blurred (sigma px)."""
    if x_unit.dim() == 4:
        if x_unit.shape[0] != 1:
            raise ValueError("gradient_map explains one image at a time")
        x_unit = x_unit[0]
    angles = fixed_angles(int(rotations or model.cfg.test_transforms))
    kernel = 2 * math.ceil(3 * sigma) + 1
    x_unit = to_unit(x_unit.detach()).to(model.device)
    total = None
    for start in range(0, len(angles), batch):
        chunk = angles[start:start + batch]
        views = normalize(rotate_views(x_unit[None], chunk)).detach().requires_grad_(True)
        with torch.enable_grad():
            z, _ = model(views)
            loss = 0.5 * (z.float() ** 2).sum()  # the views are independent: sum = per-view gradients
            (grad,) = torch.autograd.grad(loss, views)
        back = torch.stack([TF.rotate(g, -float(a)) for g, a in zip(grad, chunk, strict=True)])
        if sigma > 0:
            back = TF.gaussian_blur(back, [kernel, kernel], [float(sigma), float(sigma)])
        part = back.abs().sum(dim=0)
        total = part if total is None else total + part
    avg = (total / len(angles)) ** 2  # [3, S, S]
    result = (avg.sum(dim=0) if channels == "sum" else avg.mean(dim=0)).detach().cpu().numpy().astype(np.float32)
    check_map(result, f"gradient map ({len(angles)} rotations)", on_blank,
              "no gradient reached the input; the input view must require grad")
    return result
