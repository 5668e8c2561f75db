"""DifferNet and AttentDifferNet: multi-scale AlexNet embedding -> normalizing flow -> z.

    image [B, 3, S, S] --(nearest resize to S, S/2, ...)--> AttentionAlexNet --(mean over space)--> 256 each
    --concat--> embedding [B, 256 * scales] --flow--> z [B, 256 * scales], log|det J| [B]

The anomaly score of an image is mean(z^2) over the dimensions and over T rotated views (no log-det), as in
DifferNet. AttentDifferNet is the same model with attention blocks in the backbone (cfg.attention).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from adnkit import fastpath
from adnkit.attention import attention_options
from adnkit.backbone import AttentionAlexNet
from adnkit.config import Config
from adnkit.flow import build_flow
from adnkit.views import fixed_angles, normalize, rotate_views, to_unit


class DifferNet(nn.Module):
    """The whole detector. `cfg.attention == "none"` is DifferNet; "se" / "cbam" / ... AttentDifferNet."""

    def __init__(self, cfg: Config, progress: bool = True):
        super().__init__()
        self.cfg = cfg
        # Attention blocks and flow subnets start from the same random numbers for the same seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.backbone = AttentionAlexNet(cfg.attention, cfg.attention_positions, **attention_options(cfg))
            self.flow = build_flow(cfg.embedding_dim, cfg.flow_blocks, cfg.flow_hidden, cfg.flow_hidden_layers, cfg.clamp)
        if cfg.pretrained == "imagenet":
            self.backbone.load_imagenet(progress=progress)
        self.backbone.set_attention_trainable(cfg.train_attention)
        self.backbone.eval()

    def train(self, mode: bool = True) -> "DifferNet":
        """The backbone stays in eval mode (frozen statistics); only the flow switches."""
        super().train(mode)
        self.backbone.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.flow.parameters()).device

    def _backbone_context(self, x: torch.Tensor):
        """No autograd through the backbone unless something in it trains or the input wants a gradient;
        bf16 autocast on CUDA when cfg.amp."""
        need_grad = torch.is_grad_enabled() and (self.backbone.has_trainable or x.requires_grad)
        stack = contextlib.ExitStack()
        stack.enter_context(torch.set_grad_enabled(need_grad))
        if x.is_cuda and self.cfg.amp:
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, S, S] -> embedding [B, 256 * scales] (float32)."""
        if x.shape[-1] != self.cfg.image_size or x.shape[-2] != self.cfg.image_size:
            raise ValueError(f"expected {self.cfg.image_size}px input, got {tuple(x.shape[-2:])}")
        if x.is_cuda and self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        parts = []
        with self._backbone_context(x):
            for size in self.cfg.scale_sizes:
                xs = x if size == x.shape[-1] else F.interpolate(x, size=(size, size), mode="nearest")
                parts.append(self.backbone(xs).float().mean(dim=(2, 3)))
        return torch.cat(parts, dim=1)

    def flow_forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """embedding [B, D] -> (z [B, D], log|det J| [B]) (through the compiled flow when one is set)."""
        if self.__dict__.get("_precision_device") != embedding.device.type:
            self.set_flow_precision(embedding.device)
        fn = self.__dict__.get("_flow_fn")
        return (fn or self.flow)(embedding)

    def set_flow_precision(self, device: torch.device) -> str:
        """Resolve cfg.flow_precision for `device` and switch the flow's subnets to it ("bf16" or "fp32").
        flow_forward does this itself on the first call on a device, so training, scoring and explaining
        run the same precision for the same settings."""
        precision = fastpath.resolve_flow_precision(self.cfg, torch.device(device))
        fastpath.set_flow_precision(self.flow, precision)
        self.__dict__["_precision_device"] = torch.device(device).type
        return precision

    def set_flow_fn(self, fn) -> None:
        """Run flow_forward through `fn` (e.g. a compiled flow; None = the flow itself). Kept out of the
        module tree so that state_dict keys stay the same."""
        self.__dict__["_flow_fn"] = fn

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images -> (z, log|det J|)."""
        return self.flow_forward(self.embed(x))

    @staticmethod
    def view_scores(z: torch.Tensor) -> torch.Tensor:
        """Per-row anomaly score: mean of z^2 over the dimensions."""
        return z.pow(2).mean(dim=1)

    def score(self, images: torch.Tensor, angles=None) -> torch.Tensor:
        """Images [B, 3, S, S] (uint8, or float in [0, 1]) -> anomaly scores [B], averaged over rotated views
        (default: cfg.test_transforms fixed angles k * 360 / T). All views of a batch run as one batch."""
        angles = fixed_angles(self.cfg.test_transforms) if angles is None else list(angles)
        images = to_unit(images.to(self.device))
        with torch.set_grad_enabled(torch.is_grad_enabled() and images.requires_grad):
            views = normalize(rotate_views(images, angles))
            z, _ = self(views)
            return self.view_scores(z).view(images.shape[0], len(angles)).mean(dim=1)

    def trainable_parameters(self) -> list[dict]:
        """Optimiser parameter groups: the flow at lr, attention blocks (if trained) at lr * attention_lr_scale."""
        groups = [{"params": list(self.flow.parameters()), "lr": self.cfg.lr, "name": "flow"}]
        attention = [p for p in self.backbone.attention.parameters() if p.requires_grad]
        if attention:
            groups.append({"params": attention, "lr": self.cfg.lr * self.cfg.attention_lr_scale, "name": "attention"})
        return groups
