"""DifferNet and AttentDifferNet: multi-scale AlexNet embedding -> normalizing flow -> z.

    image [B, 3, S, S] --(nearest resize to S, S/2, ...)--> AttentionAlexNet --(mean over space)--> 256 each
    --concat--> embedding [B, 256 * scales] --flow--> z [B, 256 * scales], log|det J| [B]

The anomaly score of an image is mean(z^2) over the dimensions and over T rotated views (no log-det), as in
DifferNet; adnkit.model.scoring computes it. AttentDifferNet is the same model with attention blocks in the backbone
(cfg.attention).

With cfg.embedding_norm == "batch" an `EmbeddingNorm` standardises the embedding between backbone and flow
(inside `flow_forward`, which both training paths, cached embeddings and images, go through).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from adnkit.attention.registry import block_options
from adnkit.config.settings import Config
from adnkit.core.errors import AdnkitError, ConfigError
from adnkit.model import fastpath
from adnkit.model.backbone import AttentionAlexNet
from adnkit.model.flow import build_flow


class EmbeddingNorm(nn.BatchNorm1d):
    """The guard for trained attention blocks: standardise each embedding dimension, (x - mean) / sqrt(var + eps),
    with no learned scale or shift (torch's BatchNorm1d, affine=False).

    Why: the flow's loss is the likelihood of the embedding it is given, which does not include the backbone
    blocks' own Jacobian, so blocks trained through it can lower the loss by shrinking the features toward a
    constant. After standardisation with the statistics of the batch, multiplying the embedding by any c > 0
    (or adding a constant) leaves the flow's input, and so the loss, unchanged (up to eps = 1e-5): shrinking no
    longer pays.

    Statistics: while training (module in train mode) each batch is standardised with its own mean and
    (biased) variance; the running statistics are the plain average over the batches seen since the last
    `reset_running_stats()` (momentum=None: a cumulative average, not an exponential one). `DifferNet.train()`
    resets them, and train calls it at the start of every meta epoch, so the evaluation after a meta
    epoch scores with the average statistics of that meta epoch's training batches. In eval mode (scoring,
    `model.eval()`) the running statistics are used: a fixed affine map, so the flow stays invertible
    (`inverse`). They are buffers of the model's state dict, so model.pt stores and restores them.

    Log-det: with batch statistics the normaliser's log|det| per row is -0.5 * sum_d log(var_d + eps), the same
    for every row of a batch (a data-dependent constant). It is deliberately NOT added to the loss: adding it
    would make the loss the likelihood of the raw embedding again, and that term alone grows without bound as
    the features shrink (var -> 0), i.e. it would restore exactly the incentive the guard removes. The anomaly
    score mean(z^2) never used a log-det.

    Limits: it removes the reward for a per-dimension rescaling; a block can still drive a dimension's
    variance far below eps (then the dimension is squashed to about 0, a gain the flow's soft clamp bounds),
    or change the features nonlinearly. `adnkit.model.probes.feature_spread` measures what happens.
    """

    def __init__(self, dim: int):
        super().__init__(dim, affine=False, momentum=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] < 2:
            raise ConfigError(
                f"embedding_norm='batch' got a training step of {x.shape[0]} row(s): batch statistics need at "
                "least 2; use --batch-size 2 or more and --train-transforms 2 or more, or --embedding-norm none"
            )
        return super().forward(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse map with the running statistics (eval mode): y * sqrt(var + eps) + mean."""
        return y * torch.sqrt(self.running_var + self.eps) + self.running_mean


class DifferNet(nn.Module):
    """The whole detector. `cfg.attention == "none"` is DifferNet; "se" / "cbam" / ... AttentDifferNet."""

    def __init__(self, cfg: Config, progress: bool = True):
        super().__init__()
        self.cfg = cfg
        # Attention blocks and flow subnets start from the same random numbers for the same seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.backbone = AttentionAlexNet(cfg.attention, cfg.attention_positions, **block_options(cfg))
            self.flow = build_flow(
                cfg.embedding_dim, cfg.flow_blocks, cfg.flow_hidden, cfg.flow_hidden_layers, cfg.clamp
            )
        self.embedding_norm = EmbeddingNorm(cfg.embedding_dim) if cfg.embedding_norm == "batch" else None
        if cfg.pretrained == "imagenet":
            self.backbone.load_imagenet(progress=progress)
        self.backbone.set_attention_trainable(cfg.train_attention)
        self.backbone.eval()

    def train(self, mode: bool = True) -> DifferNet:
        """The backbone stays in eval mode (frozen statistics); only the flow (and the embedding norm) switch.
        train(True) also restarts the embedding norm's running statistics (see EmbeddingNorm)."""
        super().train(mode)
        self.backbone.eval()
        if mode and self.embedding_norm is not None:
            self.embedding_norm.reset_running_stats()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.flow.parameters()).device

    def _backbone_context(self, x: torch.Tensor, need_grad: bool, cpu_bf16: bool):
        """No autograd through the backbone unless something in it trains or the input wants a gradient;
        autocast on CUDA when cfg.amp (bf16, or fp16 on GPUs without native bf16: fastpath.cuda_backbone_dtype),
        and bf16 on CPU when `cpu_bf16` (see embed)."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.set_grad_enabled(need_grad))
        cuda_dtype = fastpath.cuda_backbone_dtype(self.cfg.amp, x.device, need_grad) if x.is_cuda else None
        if cuda_dtype is not None:
            stack.enter_context(torch.autocast("cuda", dtype=cuda_dtype))
        elif cpu_bf16:
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
        return stack

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images [B, 3, S, S] -> embedding [B, 256 * scales] (float32)."""
        if x.shape[-1] != self.cfg.image_size or x.shape[-2] != self.cfg.image_size:
            raise ValueError(f"expected {self.cfg.image_size}px input, got {tuple(x.shape[-2:])}")
        need_grad = torch.is_grad_enabled() and (self.backbone.has_trainable or x.requires_grad)
        # cfg.cpu_bf16_backbone applies to CPU passes without a gradient only
        cpu_bf16 = (x.device.type == "cpu" and not need_grad
                    and fastpath.resolve_cpu_bf16_backbone(self.cfg.cpu_bf16_backbone))
        if (x.is_cuda and self.cfg.channels_last) or cpu_bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        parts = []
        with self._backbone_context(x, need_grad, cpu_bf16):
            for size in self.cfg.scale_sizes:
                xs = x if size == x.shape[-1] else F.interpolate(x, size=(size, size), mode="nearest")
                parts.append(self.backbone(xs).float().mean(dim=(2, 3)))
        return torch.cat(parts, dim=1)

    def flow_forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """embedding [B, D] -> (z [B, D], log|det J| [B]) of the flow (the embedding norm, if any, standardises the
        embedding first; its own log-det is not included, see EmbeddingNorm), through the compiled flow when one
        is set."""
        if self.__dict__.get("_precision_device") != embedding.device.type:
            self.set_flow_precision(embedding.device)
        if self.embedding_norm is not None:
            embedding = self.embedding_norm(embedding)
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

    def flow_reverse(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, D] -> the embedding [B, D] that flow_forward maps to z (eval mode when an embedding norm is on)."""
        x, _ = self.flow(z, rev=True)
        return self.embedding_norm.inverse(x) if self.embedding_norm is not None else x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images -> (z, log|det J|)."""
        return self.flow_forward(self.embed(x))

    @staticmethod
    def view_scores(z: torch.Tensor) -> torch.Tensor:
        """Per-row anomaly score: mean of z^2 over the dimensions."""
        return z.pow(2).mean(dim=1)

    def stored_state(self) -> dict[str, torch.Tensor]:
        """What a run must store: everything but the ImageNet convolutions, which reload from their source."""
        skip = "backbone.features." if self.cfg.pretrained == "imagenet" else "\0"
        return {k: v.detach().cpu() for k, v in self.state_dict().items() if not k.startswith(skip)}

    def load_stored_state(self, state: dict[str, torch.Tensor], where) -> None:
        """Load what `stored_state` saved; a state that does not fit this config is a one-line error."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("backbone.features.")]
        if missing or unexpected:
            raise AdnkitError(f"{where}: weights do not fit this config (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]}); were the run's settings edited?")

    def trainable_parameters(self) -> list[dict]:
        """Optimiser parameter groups: the flow at lr, attention blocks (if trained) at lr * attention_lr_scale."""
        groups = [{"params": list(self.flow.parameters()), "lr": self.cfg.lr, "name": "flow"}]
        attention = [p for p in self.backbone.attention.parameters() if p.requires_grad]
        if attention:
            groups.append({"params": attention, "lr": self.cfg.lr * self.cfg.attention_lr_scale, "name": "attention"})
        return groups
