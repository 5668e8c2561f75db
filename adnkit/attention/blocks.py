"""The built-in attention blocks: SE, CBAM, ECA and coordinate attention (by name: adnkit.attention.registry).

Every block maps a feature map [B, C, H, W] to a re-weighted map of the same shape, so any of them can sit
after a ReLU of AlexNet, and lists its gates with gate_taps() (adnkit.attention.protocol). AttentDifferNet
(Vieira e Silva et al., WACV 2024) uses SE and CBAM; ECA and coordinate attention are here to ask whether a
newer block helps more.

The papers leave some choices open (docs/method.md); they are plain arguments here:
  SE reduction (authors' lab code: 2), CBAM reduction (16), CBAM spatial kernel (lab code 49, CBAM paper 7),
  CBAM residual `out + x` (lab code on, CBAM paper off).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from adnkit.attention.protocol import GateTap


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation (Hu et al., CVPR 2018): global average pool -> MLP -> sigmoid channel gates."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3), keepdim=True))

    def gate_taps(self) -> list[GateTap]:
        return [("channel", self.fc, lambda out: out.flatten(1))]  # fc ends in the sigmoid


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al., ECCV 2018): channel gates from a shared MLP on
    average- and max-pooled features, then a spatial gate from a k x k conv on the channel mean and max.

    `residual=True` returns `gated + x` as the AttentDifferNet authors' lab code does.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7, residual: bool = False):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"CBAM kernel_size must be odd, got {kernel_size}")
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.channel_gate = nn.Sigmoid()  # no weights: a hook point for the channel gate
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.mlp(x.mean(dim=(2, 3), keepdim=True)) + self.mlp(x.amax(dim=(2, 3), keepdim=True))
        channel = self.channel_gate(pooled)
        y = x * channel
        maps = torch.cat([y.mean(dim=1, keepdim=True), y.amax(dim=1, keepdim=True)], 1)
        if maps.device.type == "cpu":  # oneDNN runs this 2-to-1-channel conv 2-6x faster channels-last (49 px kernel)
            maps = maps.contiguous(memory_format=torch.channels_last)
        spatial = torch.sigmoid(self.spatial(maps))
        y = y * spatial
        return y + x if self.residual else y

    def gate_taps(self) -> list[GateTap]:
        return [("channel", self.channel_gate, lambda out: out.flatten(1)), ("spatial", self.spatial, torch.sigmoid)]


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al., CVPR 2020): a 1-D conv across the pooled channel vector, no dimensionality reduction.

    kernel_size 0 picks k = nearest odd of |log2(C)/gamma + b/gamma| with gamma=2, b=1 as in the paper.
    """

    def __init__(self, channels: int, kernel_size: int = 0, gamma: int = 2, b: int = 1):
        super().__init__()
        if kernel_size <= 0:
            t = int(abs(math.log2(channels) / gamma + b / gamma))
            kernel_size = t if t % 2 else t + 1
        if kernel_size % 2 == 0:  # an even kernel with padding k // 2 would give C + 1 gates
            raise ValueError(f"ECA kernel_size must be odd (or 0 for the adaptive size), got {kernel_size}")
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))  # [B, C]
        gates = torch.sigmoid(self.conv(pooled.unsqueeze(1))).squeeze(1)
        return x * gates[:, :, None, None]

    def gate_taps(self) -> list[GateTap]:
        return [("channel", self.conv, lambda out: torch.sigmoid(out).squeeze(1))]


class CoordinateAttention(nn.Module):
    """Coordinate attention (Hou et al., CVPR 2021): gates along height and width from direction-aware pooling.

    Its BatchNorm runs on running statistics, since the backbone is always in eval mode in adnkit.
    """

    def __init__(self, channels: int, reduction: int = 32):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.shared = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.Hardswish())
        self.to_h = nn.Conv2d(hidden, channels, 1)
        self.to_w = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        pooled_h = x.mean(dim=3, keepdim=True)  # [B, C, H, 1]
        pooled_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # [B, C, W, 1]
        y = self.shared(torch.cat([pooled_h, pooled_w], dim=2))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        gate_h = torch.sigmoid(self.to_h(y_h))  # [B, C, H, 1]
        gate_w = torch.sigmoid(self.to_w(y_w.transpose(2, 3)))  # [B, C, 1, W]
        return x * gate_h * gate_w

    def gate_taps(self) -> list[GateTap]:
        return [("height", self.to_h, torch.sigmoid), ("width", self.to_w, torch.sigmoid)]
