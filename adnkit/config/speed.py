"""Speed settings: where a run computes and how fast; what is learned stays the same (the feature cache aside,
which trades fresh random angles for speed; see its docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from adnkit.config.checks import require_choice
from adnkit.core.errors import ConfigError

DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
"""The devices a setting may name; whether one is present is checked when a run starts (adnkit.core.device)."""


@dataclass
class SpeedSettings:
    """Device, precision, compilation, data-loading workers and the feature cache (adnkit.model.fastpath)."""

    device: str = "auto"
    """auto (a CUDA GPU if present; else Apple's MPS if this torch runs all of adnkit there; else the CPU), cpu,
    cuda, cuda:N, mps. The device a run used, with its name and memory, is in its metrics.json."""
    amp: bool = True
    """Mixed precision for the backbone on CUDA: bf16 on GPUs that have it natively (compute capability 8.0 and
    up: A100, L4, H100), fp16 for passes without a gradient on older ones (T4, V100); ignored on CPU and MPS."""
    channels_last: bool = True
    """channels-last memory format for the backbone on CUDA (ignored on CPU)."""
    num_workers: int = 0
    """Data-loading worker processes (0 = load images in the main process)."""
    feature_cache_views: int = 0
    """Rotated views per training image whose features are computed once and reused every epoch (0 = none).
    With 0, every step draws fresh random angles, as the original code does (the paper recipe). Only used
    when nothing trainable sits in the backbone; what it costs and saves: docs/benchmarks.md."""
    optimizer_impl: str = "auto"
    """Adam's implementation: auto (fused where torch has it for the device, else foreach), fused, foreach,
    plain (the per-parameter loop). Same update, different speed."""
    flow_precision: str = "auto"
    """The flow's Linear layers: auto (bf16 on CUDA GPUs with native bf16, compute capability 8.0 and up, and
    on CPUs with AVX512-BF16/AMX for subnets at least 1024 wide; else fp32), bf16, fp32. Weights, coupling
    arithmetic, log-det and loss stay float32 either way."""
    cpu_bf16_backbone: str = "off"
    """The backbone's passes without a gradient on CPU (feature cache, test views, scoring) in bf16 with
    channels-last: off, auto (on for CPUs with native bf16: AVX512-BF16 or AMX), on. Faster, but the
    embeddings move slightly, which can cost AUROC, hence off by default (docs/benchmarks.md). Passes with
    a gradient (trained attention, Grad-CAM) stay float32 on CPU; CUDA uses `amp` and `channels_last`."""
    compile_flow: str = "auto"
    """torch.compile the flow: auto (off; docs/benchmarks.md says why), on (falls back to eager with a
    warning when compiling fails), off."""

    def validate(self) -> None:
        """Raise ConfigError for an impossible speed setting."""
        if not DEVICE_NAME.fullmatch(str(self.device)):
            raise ConfigError(f"device={self.device!r}: use --device auto, cpu, cuda, cuda:N or mps")
        if self.feature_cache_views < 0:
            raise ConfigError("feature_cache_views must be 0 (no cache) or more")
        require_choice(self, "optimizer_impl", ("auto", "fused", "foreach", "plain"))
        require_choice(self, "flow_precision", ("auto", "bf16", "fp32"))
        require_choice(self, "compile_flow", ("auto", "on", "off"))
        require_choice(self, "cpu_bf16_backbone", ("auto", "on", "off"))
