"""The GPU memory a training run needs, estimated before it starts: a preset too big for the GPU is a one-line
error naming the fix (a smaller batch, another preset) instead of an out-of-memory crash minutes into the run.

The estimate adds what stays (the flow's weights, gradients and Adam's two moments, float32), what one training
step holds at once (the backbone's activations of batch_size x train_transforms views at every scale, all of
them when a gradient flows through the backbone, else the largest layer's input and output; the flow's
activations), and a reserve for the CUDA context, cuDNN's workspace and the allocator's slack. The backbone's
activation sizes come from running it on torch's "meta" device (shapes only, no memory, no arithmetic).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from adnkit.config.settings import Config
from adnkit.core.device import device_name, total_memory_bytes
from adnkit.core.errors import ConfigError

RESERVE_BYTES = 1 << 30
"""CUDA context, cuDNN workspace and allocator slack, kept free beyond the estimate."""
FLOAT_BYTES = 4


def state_bytes(model: nn.Module) -> int:
    """The model's weights in float32, with a gradient and Adam's two moments for every weight that trains."""
    return sum(p.numel() * FLOAT_BYTES * (4 if p.requires_grad else 1) for p in model.parameters())


def view_activation_bytes(backbone: nn.Module, sizes, need_grad: bool) -> int:
    """Bytes of backbone activations one view holds at its peak, over the image sizes of its scales: every
    layer's input and output when a gradient flows back through them, else the largest input + output pair."""
    meta = copy.deepcopy(backbone).to("meta")
    layers = [m for m in meta.modules() if not list(m.children()) and not isinstance(m, nn.Identity)]
    held, peak = 0, 0
    for size in sizes:
        outputs: list[int] = []
        hooks = [m.register_forward_hook(lambda _m, _i, out, sink=outputs: sink.append(out.numel())) for m in layers]
        try:
            with torch.no_grad():
                meta(torch.empty(1, 3, size, size, device="meta"))
        finally:
            for hook in hooks:
                hook.remove()
        inputs = [3 * size * size] + outputs[:-1]
        held += 3 * size * size + sum(outputs)
        peak = max(peak, *(i + o for i, o in zip(inputs, outputs, strict=True)))
    return (held if need_grad else peak) * FLOAT_BYTES


def training_bytes(model: nn.Module, cfg: Config, batch_size: int | None = None) -> dict[str, int]:
    """The estimate's parts for a batch size (cfg's by default): {"state", "step", "reserve", "total"}."""
    rows = (batch_size or cfg.batch_size) * cfg.train_transforms
    fresh_views = cfg.feature_cache_views <= 0 or model.backbone.has_trainable
    need_grad = model.backbone.has_trainable
    per_view = view_activation_bytes(model.backbone, cfg.scale_sizes, need_grad)
    views = rows if fresh_views else 0
    views = max(views, 96)  # embedding the cache, the test views and scoring run 96 views at a time
    flow_rows = rows * cfg.flow_blocks * 2 * (cfg.flow_hidden_layers + 1) * cfg.flow_hidden * 2 * FLOAT_BYTES
    parts = dict(state=state_bytes(model), step=views * per_view + flow_rows, reserve=RESERVE_BYTES)
    parts["total"] = sum(parts.values())
    return parts


def check_fits(model: nn.Module, cfg: Config, device: torch.device) -> None:
    """Raise a one-line ConfigError when training `model` with cfg on a CUDA `device` needs more memory than it
    has; the message gives the largest batch size that fits, if any."""
    if device.type != "cuda":
        return
    have = total_memory_bytes(device)
    need = training_bytes(model, cfg)
    if need["total"] <= have:
        return
    fits = [b for b in (64, 48, 32, 24, 16, 12, 8, 4, 2, 1) if b < cfg.batch_size
            and training_bytes(model, cfg, b)["total"] <= have]
    fix = f"use --batch-size {fits[0]}" if fits else "use a smaller flow (--flow-hidden) or image size"
    gib = 2**30
    raise ConfigError(
        f"these settings need about {need['total'] / gib:.1f} GiB of GPU memory to train (flow and Adam "
        f"{need['state'] / gib:.1f} GiB, one step {need['step'] / gib:.1f} GiB) but the {device_name(device)} has "
        f"{have / gib:.1f} GiB; {fix}, or --preset gpu"
    )
