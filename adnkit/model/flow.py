"""DifferNet's normalizing flow, built from FrEIA, and its negative log-likelihood loss.

flow: `blocks` x (PermuteRandom(seed=k) -> GLOWCouplingBlock), each coupling's two subnets being
Linear(in, hidden) -> ReLU -> [Linear(hidden, hidden) -> ReLU] x (hidden_layers - 1) -> Linear(hidden, out).
With the paper's 768-d embedding, width 2048 and 3 hidden layers this is ~172 M parameters.

Soft clamp: DifferNet's coupling scales by exp(clamp * 0.636 * atan(s / clamp)). FrEIA 0.2 computes
clamp * f(s) with f(u) = 0.636 * atan(u) by default, i.e. atan(s) rather than atan(s / clamp), so we pass
DifferNet's own activation (`DifferNetClamp`) to reproduce the original exactly.
"""

from __future__ import annotations

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import torch
from torch import nn


class DifferNetClamp:
    """u -> 0.636 * atan(u / clamp); FrEIA multiplies by clamp, giving DifferNet's soft clamp."""

    def __init__(self, clamp: float):
        self.clamp = clamp

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return 0.636 * torch.atan(u / self.clamp)


class Subnet(nn.Sequential):
    """A coupling subnet (Linear/ReLU stack). With `bf16 = True` its layers run under bf16 autocast and its
    output comes back as float32, so FrEIA's coupling arithmetic (soft clamp, exp, affine transform), the
    log-det and the loss stay in float32; the weights themselves stay float32 (what is learned is unchanged).
    Set by adnkit.model.fastpath.set_flow_precision."""

    bf16: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.bf16:
            return super().forward(x)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return super().forward(x).float()


def subnet_constructor(hidden: int, hidden_layers: int):
    """FrEIA subnet factory: (c_in, c_out) -> fully connected ReLU network (a Subnet)."""

    def build(c_in: int, c_out: int) -> nn.Module:
        layers: list[nn.Module] = [nn.Linear(c_in, hidden), nn.ReLU()]
        for _ in range(hidden_layers - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, c_out))
        return Subnet(*layers)

    return build


def build_flow(dim: int, blocks: int = 8, hidden: int = 2048, hidden_layers: int = 3,
               clamp: float = 3.0) -> Ff.SequenceINN:
    """The flow as a FrEIA SequenceINN: flow(x) -> (z, log|det J|) with log-det of shape [B].

    Note: PermuteRandom reseeds numpy's global generator (np.random.seed(k)); seed your own generators after.
    """
    flow = Ff.SequenceINN(dim)
    for k in range(blocks):
        flow.append(Fm.PermuteRandom, seed=k)
        flow.append(
            Fm.GLOWCouplingBlock,
            subnet_constructor=subnet_constructor(hidden, hidden_layers),
            clamp=clamp,
            clamp_activation=DifferNetClamp(clamp),
        )
    return flow


def nll_loss(z: torch.Tensor, log_jac_det: torch.Tensor) -> torch.Tensor:
    """DifferNet's loss: mean over the batch of (0.5 * ||z||^2 - log|det J|), divided by the dimension."""
    return (0.5 * z.pow(2).sum(dim=1) - log_jac_det).mean() / z.shape[1]


def count_parameters(module: nn.Module) -> int:
    """The number of parameters (trainable or not) of a module."""
    return sum(p.numel() for p in module.parameters())


def flow_parameters(cfg) -> int:
    """Parameters of the flow a Config builds (embedding_dim, flow_blocks, flow_hidden, flow_hidden_layers).

    Built on the meta device: shapes only, no memory, so even the paper preset's ~172 M-parameter flow is
    counted instantly. Like build_flow, this reseeds numpy's global generator."""
    with torch.device("meta"):
        flow = build_flow(cfg.embedding_dim, cfg.flow_blocks, cfg.flow_hidden, cfg.flow_hidden_layers, cfg.clamp)
    return count_parameters(flow)
