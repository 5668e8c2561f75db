"""What adnkit needs from an attention block: the contract a block of your own follows.

    class MyGate(nn.Module):
        def __init__(self, channels: int, reduction: int = 4): ...   # built once per slot, for its channels
        def forward(self, x): ...                                    # [B, C, H, W] -> the same shape
        def gate_taps(self):                                         # optional: the gates record_gates reads
            return [("channel", self.gate, lambda out: out.flatten(1))]

    adnkit.register_attention("mygate", MyGate)   # or name it "mypackage.blocks:MyGate" (adnkit.attention.registry)

gate_taps() lists (name, submodule, transform): `transform(output of submodule)` is the gate called `name`, values
in [0, 1], e.g. [B, C] channel gates or a [B, 1, H, W] spatial gate. Each submodule runs once per forward of the
block (wrap a gate computed inline in an nn.Sigmoid() to give it a submodule). A block without gate_taps() works
everywhere; it has no gates to record.

Constructor options come from the Config: `attention_options` (a JSON object, `--attention-options`) for any
block, and for a block registered with `options={"reduction": "se_reduction"}` (or a class attribute
`config_options` of that form) the named Config fields as well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import nn

GateTap = tuple[str, "nn.Module", Callable[["torch.Tensor"], "torch.Tensor"]]


@runtime_checkable
class GatedBlock(Protocol):
    """A block whose gates adnkit.model.probes.record_gates can read."""

    def gate_taps(self) -> list[GateTap]:
        """(gate name, submodule, transform of its output into the gate in [0, 1]) for each gate."""
        ...
