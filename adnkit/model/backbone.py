"""AlexNet `features` with attention slots: DifferNet's backbone (no blocks) and AttentDifferNet's (SE / CBAM).

The network is torchvision's AlexNet `features`, kept under its own indices so that ImageNet state dicts load
unchanged. After each slot position (default: the ReLUs of conv1, conv2 and conv5 = features[1], [4], [11]
with 64, 192, 256 channels; or the max-pools features[2], [5], [12] with the same channels, the other public
reading of AttentDifferNet, `attention_site="pool"`) sits the attention block (if any) and then an identity
"tap", a stable hook point for Grad-CAM whose output no in-place op overwrites, so the taps follow the blocks.
Convolutions are always frozen; attention blocks are trainable only when asked (`train_attention`).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from adnkit.attention.registry import make_attention
from adnkit.attention.sites import ALEXNET_SLOT_CHANNELS
from adnkit.model.weights import imagenet_features_state


class AttentionAlexNet(nn.Module):
    """x [B, 3, H, W] (ImageNet-normalised) -> [B, 256, h, w], the output of AlexNet `features` (after the
    last max-pool, as torchvision's), with attention blocks applied at the slots."""

    def __init__(self, attention: str = "none", positions=(1, 4, 11), **attention_options):
        super().__init__()
        self.features = torchvision.models.alexnet(weights=None).features
        for i, layer in enumerate(self.features):
            if isinstance(layer, nn.ReLU):  # in-place ReLUs would overwrite hooked activations (Grad-CAM)
                self.features[i] = nn.ReLU(inplace=False)
        self.positions = tuple(positions)
        self.attention_name = attention
        self.attention = nn.ModuleDict()
        if attention != "none":
            for p in self.positions:
                self.attention[str(p)] = make_attention(attention, ALEXNET_SLOT_CHANNELS[p], **attention_options)
        self.taps = nn.ModuleDict({str(p): nn.Identity() for p in self.positions})
        self.weights_source = "random"
        self.freeze_convolutions()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.features):
            x = layer(x)
            key = str(i)
            if key in self.attention:
                x = self.attention[key](x)
            if key in self.taps:
                x = self.taps[key](x)
        return x

    def freeze_convolutions(self) -> None:
        for p in self.features.parameters():
            p.requires_grad_(False)

    def set_attention_trainable(self, trainable: bool) -> None:
        for p in self.attention.parameters():
            p.requires_grad_(trainable)

    @property
    def has_trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def load_imagenet(self, progress: bool = True) -> str:
        """Load ImageNet conv weights (see adnkit.model.weights) and return where they came from."""
        state, source = imagenet_features_state(progress=progress)
        self.features.load_state_dict(state)
        self.weights_source = source
        return source

    def tap(self, position: int | None = None) -> nn.Module:
        """The hook point after slot `position` (default: the last one, after the last attention block)."""
        key = str(self.positions[-1] if position is None else position)
        if key not in self.taps:
            raise KeyError(f"no slot at features[{key}]; slots are at {list(self.positions)}")
        return self.taps[key]
