"""Class-activation maps of the anomaly score with pytorch-grad-cam.

The model is wrapped in `ScoreModel`, which takes a normalised image batch and returns ONE tensor, the flow
output z; the target of each image is `score_target`, mean(z^2), i.e. that view's anomaly score. The hooked
layer is a backbone tap (`model.backbone.tap(position)`): position 1, 4 or 11 (after conv1, conv2, conv5 and
the attention block there, if any); "last" (default) is after the last attention block, as in the
AttentDifferNet paper. DifferNet embeds the image at several scales through the same backbone, so the tap
fires once per scale: `_ScaleTaps` gives each scale its own hook point, and pytorch-grad-cam averages the maps
of all scales (`scale=k` keeps one scale, 0 = full resolution).

The frozen-backbone pitfall: DifferNet runs its backbone without autograd (nothing in it trains), so the
hooked activations carry no gradient and no map can be computed. `DifferNet.embed` turns autograd on when
the input requires grad, so `cam_map` makes the input require it; a layer without gradient is a
`BlankMapError`, never a silently blank picture.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from adnkit.core.errors import ConfigError
from adnkit.explain.methods import GRADIENT_METHOD, BlankMapError, cam_methods, canonical_method, check_map


class ScoreModel(nn.Module):
    """Normalised images [B, 3, S, S] -> z [B, D], the flow output of the embedding (one tensor, no log-det).

    The target `lambda z: (z ** 2).mean()` of one row is that view's anomaly score."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.model(x)
        return z


def score_target(z: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam target on one image's model output: the anomaly score mean(z^2)."""
    return (z**2).mean()


class _ScaleTaps(contextlib.AbstractContextManager):
    """While active, the backbone tap's output at the k-th call of a forward pass goes through `taps[k]`, a
    distinct identity module per scale, so that each scale has its own hook point for pytorch-grad-cam (the
    shared tap fires once per scale). `reset()` before each forward pass (ScoreModel does it via a pre-hook)."""

    def __init__(self, tap: nn.Module, n_scales: int):
        self.tap = tap
        self.taps = nn.ModuleList([nn.Identity() for _ in range(n_scales)])
        self.calls = 0
        self._handle = None

    def reset(self, *_):
        self.calls = 0

    def _hook(self, module, inputs, output):
        k = self.calls
        self.calls += 1
        # float32 at the hook point: under CUDA autocast (cfg.amp) the activations are bfloat16, which
        # pytorch-grad-cam's numpy conversion cannot take; the cast is differentiable.
        return self.taps[k](output.float()) if k < len(self.taps) else output

    def __enter__(self):
        self._handle = self.tap.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        return False


def resolve_layer(model, layer="last") -> int:
    """A slot position of the backbone: "last"/None -> the last slot, else 1, 4, 11 (int or digits)."""
    positions = list(model.backbone.positions)
    if layer is None or (isinstance(layer, str) and layer.strip().lower() in ("last", "")):
        return positions[-1]
    try:
        pos = int(layer)
    except (TypeError, ValueError):
        raise ConfigError(f"layer {layer!r}: use 'last' or a slot position among {positions}") from None
    if pos not in positions:
        raise ConfigError(f"layer {layer!r}: the backbone has hook points after features{positions}; "
                          f"use one of {positions} or 'last'")
    return pos


def _run_cam(cam, x: torch.Tensor, where: str):
    """cam(x) with the anomaly score as every image's target; None when no gradient reached the layer.

    Version workaround for grad-cam 1.5.x (seen with 1.5.7): when no gradient reached the layer (the input does
    not require grad, the backbone is frozen), it does not say so but crashes inside get_cam_weights on
    `grads = None` ("'NoneType' object has no attribute 'shape'"); older versions return an all-zero map.
    cam_map checks the gradients itself right after this call, so such a crash only means "no map" here.
    This function can go (call `cam(...)` directly) once every grad-cam version pyproject.toml allows reports
    missing gradients with its own error, which 1.5.7 does not; tests/test_explain.py's
    test_frozen_backbone_pitfall shows what the installed version does."""
    try:
        return cam(input_tensor=x, targets=[score_target] * x.shape[0])
    except (AttributeError, TypeError, IndexError, ValueError) as err:
        if not cam.activations_and_grads.gradients:
            return None
        raise RuntimeError(f"{where}: pytorch-grad-cam failed ({err})") from err


def cam_map(model, x: torch.Tensor, method: str = "gradcam", layer="last", scale: int | None = None,
            input_requires_grad: bool = True, on_blank: str = "raise") -> np.ndarray:
    """Raw CAM of normalised images x [B, 3, S, S] -> float32 [B, S, S] in [0, 1] (network resolution).

    input_requires_grad=False reproduces the frozen-backbone pitfall (no gradient reaches the layer): it
    raises BlankMapError (never returns a silently blank map); leave it True."""
    method = canonical_method(method)
    if method == GRADIENT_METHOD:
        raise ConfigError("cam_map computes class-activation maps; use gradient_map for method 'gradients'")
    position = resolve_layer(model, layer)
    n_scales = len(model.cfg.scale_sizes)
    if scale is not None and not 0 <= int(scale) < n_scales:
        raise ConfigError(f"scale={scale}: the model has scales 0..{n_scales - 1} ({model.cfg.scale_sizes} px)")
    x = x.detach().to(model.device)
    if input_requires_grad:
        x = x.clone().requires_grad_(True)
    wrapper = ScoreModel(model)
    where = f"{method} at features[{position}]"
    with _ScaleTaps(model.backbone.tap(position), n_scales) as scale_taps:
        pre = wrapper.register_forward_pre_hook(scale_taps.reset)
        layers = list(scale_taps.taps) if scale is None else [scale_taps.taps[int(scale)]]
        cam = cam_methods()[method](model=wrapper, target_layers=layers)
        try:
            grads_of = cam.activations_and_grads
            with torch.enable_grad():
                maps = _run_cam(cam, x, where)
            if not grads_of.gradients or len(grads_of.gradients) < len(layers):
                raise BlankMapError(
                    f"{where}: no gradient reached the layer, the map would be blank. The backbone is frozen "
                    "(no autograd through it); make the input require grad (input_requires_grad=True)")
            acts = [tuple(a.shape) for a in grads_of.activations]
            grads = [tuple(g.shape) for g in grads_of.gradients]
            if acts != grads:  # gradients are collected in backward order; scales differ in size
                raise RuntimeError(f"{where}: activation/gradient shapes do not pair up ({acts} vs {grads})")
        finally:
            cam.activations_and_grads.release()
            pre.remove()
    # pytorch-grad-cam min-max scales each map; a blank one is all zeros.
    for i, m in enumerate(maps):
        check_map(m, f"{where} (image {i})", on_blank,
                  "every channel weight pushed the map below 0 (ReLU); try method='layercam' or 'gradients'")
    return np.asarray(maps, dtype=np.float32)
