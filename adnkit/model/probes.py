"""What the attention blocks do to a model: their gates on images, and the spread of the embedding they leave.

record_gates(model, images)   the gates in [0, 1] each block multiplies onto its feature map, recorded with
                              forward hooks on the sub-modules the block names in gate_taps()
                              (adnkit.attention.protocol), e.g. SE: channel gates [B, C]; CBAM: channel
                              gates [B, C] and a spatial gate [B, 1, H, W]; ECA: channel gates [B, C];
                              coordinate attention: height [B, C, H, 1] and width [B, C, 1, W] gates.
feature_spread(model, data)   how much the embedding varies over images: the per-dimension std, the share of
                              near-constant dimensions, and the spread relative to the features' size and to
                              a reference model (e.g. DifferNet's). A trained block that "collapses" the
                              features toward a constant shows up here before it shows up in the AUROC.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import pandas as pd
import torch
from torch.utils.data import Dataset

from adnkit.attention.protocol import GatedBlock
from adnkit.model.embedding import embed_views, fixed_angle_fn, views_of
from adnkit.model.flow import nll_loss
from adnkit.model.views import normalize, to_unit

# A dimension is "near-constant" when its std over the images is below this share of the embedding's mean
# absolute value (its overall size): scale-free, so a plain rescaling of the features does not change it.
NEAR_CONSTANT = 1e-3


class NoGatesWarning(UserWarning):
    """record_gates met blocks that list no gates (no gate_taps() method): it records none for them."""


@torch.no_grad()
def record_gates(model, images: torch.Tensor, all_scales: bool = False) -> dict[int, dict[str, torch.Tensor]]:
    """The gates of every attention block of `model` (a DifferNet) for images [B, 3, S, S] (uint8, or float in
    [0, 1]), upright, as {position: {"channel": [B, C], "spatial": [B, 1, H, W], ...}} (float, CPU, in [0, 1]).

    By default only the full-resolution scale is run (images of cfg.image_size). all_scales=True runs every
    scale of the model, as `embed` does, and gives a list per gate, one tensor per scale. DifferNet without
    blocks returns {}; a block without gate_taps() has no entry, and a NoGatesWarning says so once."""
    backbone = model.backbone
    images = to_unit(images.to(model.device))
    sizes = model.cfg.scale_sizes if all_scales else [images.shape[-1]]
    outputs: dict[int, dict[str, list[torch.Tensor]]] = {}
    handles, without = [], sorted({type(b).__name__ for b in backbone.attention.values() if not _gated(b)})
    if without:
        warnings.warn(f"record_gates: {', '.join(without)} lists no gates (no gate_taps() method, see "
                      "adnkit.attention.protocol); no gates recorded for it", NoGatesWarning, stacklevel=3)
    for key, block in backbone.attention.items():
        for name, module, transform in block.gate_taps() if _gated(block) else []:
            def hook(_m, _i, out, key=int(key), name=name, transform=transform):
                outputs.setdefault(key, {}).setdefault(name, []).append(transform(out.detach().float()).cpu())
            handles.append(module.register_forward_hook(hook))
    try:
        x = normalize(images)
        for size in sizes:
            xs = x if size == x.shape[-1] else torch.nn.functional.interpolate(x, size=(size, size), mode="nearest")
            backbone(xs)
    finally:
        for h in handles:
            h.remove()
    if all_scales:
        return dict(sorted(outputs.items()))
    return {p: {name: outs[0] for name, outs in g.items()} for p, g in sorted(outputs.items())}


def _gated(block) -> bool:
    return isinstance(block, GatedBlock)


class _Images(Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], i


def embeddings_of(model, data: Dataset | torch.Tensor | Sequence, max_images: int = 0) -> torch.Tensor:
    """Upright embeddings [N, D] of a dataset (yielding (image, index), e.g. adnkit.data.ImageDataset) or of an
    image tensor [N, 3, S, S]; the first `max_images` only when that is > 0."""
    if isinstance(data, torch.Tensor):
        data = _Images(data)
    if max_images and len(data) > max_images:
        data = _Reindexed(torch.utils.data.Subset(data, range(max_images)))
    return embed_views(model, data, 1, fixed_angle_fn([0.0]), progress=False)[:, 0]


class _Reindexed(Dataset):
    """A Subset whose items carry their position in the subset (embed_views writes rows by that index)."""

    def __init__(self, subset):
        self.subset = subset

    def __len__(self) -> int:
        return len(self.subset)

    def __getitem__(self, i):
        return self.subset[i][0], i


def feature_spread(model, data: Dataset | torch.Tensor, reference: dict | None = None, max_images: int = 0,
                   near_constant: float = NEAR_CONSTANT) -> dict:
    """How much `model`'s embedding (before any embedding norm) varies over images (upright views).

    Returns a dict (JSON-friendly floats):
      n_images, dim
      mean_std          mean over dimensions of each dimension's std over the images: the spread
      median_std
      mean_abs          mean absolute value of the embedding: its overall size
      relative_spread   mean_std / mean_abs, unchanged by a plain rescaling of the features
      near_constant_share  share of dimensions whose std < near_constant * mean_abs (default 1e-3), i.e. that
                        no longer vary compared with the size of the features
      spread_vs_reference, relative_spread_vs_reference   (when `reference`, the dict of another model on the
                        same images, e.g. DifferNet's, is given) this model's mean_std / relative_spread over
                        the reference's: 1 = as spread as the reference, 0.12 = shrunk to 12 % of it
    """
    emb = embeddings_of(model, data, max_images).double()
    if emb.shape[0] < 2:
        raise ValueError("feature_spread needs at least 2 images")
    std = emb.std(dim=0)
    mean_abs = float(emb.abs().mean())
    out = dict(n_images=int(emb.shape[0]), dim=int(emb.shape[1]), mean_std=float(std.mean()),
               median_std=float(std.median()), mean_abs=mean_abs,
               relative_spread=float(std.mean()) / max(mean_abs, 1e-12),
               near_constant_share=float((std < near_constant * mean_abs).double().mean()))
    if reference:
        out["spread_vs_reference"] = _ratio(out["mean_std"], reference.get("mean_std"))
        out["relative_spread_vs_reference"] = _ratio(out["relative_spread"], reference.get("relative_spread"))
    return out


def _ratio(a, b) -> float:
    return float(a) / float(b) if b and math.isfinite(float(b)) and float(b) > 0 else float("nan")


def collapse_curve(model, train_images: torch.Tensor, probe_images: torch.Tensor, steps: int = 20,
                   every: int = 5, batch_size: int | None = None, seed: int = 0):
    """Train `model` (in place) for `steps` optimiser steps the way train does (Adam on
    model.trainable_parameters(), DifferNet's NLL on cfg.train_transforms random rotations of each image of
    a batch) and measure feature_spread on `probe_images` before the first step and every `every` steps.

    Returns a pandas DataFrame: step, loss (mean over the steps since the last row), mean_std, mean_abs,
    relative_spread, near_constant_share. With train_attention on, a falling mean_std at a falling loss
    is the collapse the guard (embedding_norm="batch") is meant to stop; with the blocks frozen only the
    flow changes and the spread stays where it is."""
    cfg = model.cfg
    batch_size = batch_size or cfg.batch_size
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    rows, losses = [], []

    def measure(step):
        spread = feature_spread(model, probe_images)
        rows.append(dict(step=step, loss=float(sum(losses) / len(losses)) if losses else float("nan"),
                         **{k: spread[k] for k in ("mean_std", "mean_abs", "relative_spread", "near_constant_share")}))
        losses.clear()

    measure(0)
    for step in range(1, steps + 1):
        model.train()
        idx = torch.randint(len(train_images), (batch_size,), generator=gen)
        angles = torch.rand(batch_size, cfg.train_transforms, generator=gen, dtype=torch.float64) * 360.0 - 180.0
        loss = nll_loss(*model(views_of(train_images[idx].to(model.device), angles)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % every == 0 or step == steps:
            measure(step)
    model.eval()
    return pd.DataFrame(rows)
