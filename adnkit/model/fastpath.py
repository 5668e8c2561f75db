"""The fast path of the flow step: Adam's fused/foreach implementation, bf16 Linear layers, torch.compile.

None of these changes what is learned: the weights, Adam's state, the coupling arithmetic (soft clamp, exp,
affine transform), the log-det and the loss stay float32; only the matrix multiplies of the coupling subnets
run in bf16 (adnkit.model.flow.Subnet), and the optimiser's update is the same formula computed in fewer kernels.
At the paper's flow (172 M parameters, 96 rows per step) the step is forward + backward through the subnets'
matrix multiplies plus an Adam update over every weight, so these three are where its time goes
(benchmarks/profile_step.py measures them).

Each setting has an automatic default, resolved here for the device at hand; `describe()` is the one-line
record that goes into metrics.json.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.optim.optimizer import _get_fused_kernels_supported_devices

from adnkit.config.settings import Config
from adnkit.core.device import has_native_bf16
from adnkit.model import memory
from adnkit.model.flow import Subnet

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo's flags.

    torch.backends.cpu.get_cpu_capability() says only "AVX512" on such CPUs, and oneDNN emulates bf16 on
    plain AVX512, where it is slower than float32; hence the flags."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return any(f in flags for f in CPU_BF16_FLAGS)


def device_has_bf16(device: torch.device) -> bool:
    """Native bf16 arithmetic: CUDA GPUs of compute capability 8.0 or more (not a T4 or V100, where
    torch.cuda.is_bf16_supported() says True through a slow emulation), CPUs with AVX512-BF16 or AMX."""
    if device.type == "cuda":
        return has_native_bf16(device)
    if device.type == "cpu":
        return cpu_has_bf16()
    return False


# --- optimiser -----------------------------------------------------------------------------------------------
def fused_supported(device: torch.device) -> bool:
    """Whether this torch has a fused Adam kernel for the device type (CPU's exists since torch 2.4)."""
    return device.type in _get_fused_kernels_supported_devices()


def resolve_optimizer_impl(impl: str, device: torch.device) -> str:
    """auto -> fused where supported, else foreach; an explicit choice is kept (fused where unsupported
    is an error of the caller's own making, reported by torch)."""
    if impl != "auto":
        return impl
    return "fused" if fused_supported(device) else "foreach"


def _impl_flags(impl: str) -> dict:
    return {"fused": dict(fused=True, foreach=None), "foreach": dict(fused=None, foreach=True),
            "plain": dict(fused=None, foreach=False)}[impl]


def build_optimizer(groups: list[dict], cfg: Config, impl: str) -> torch.optim.Adam:
    """DifferNet's Adam over the parameter groups, in the given (resolved) implementation."""
    return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                            **_impl_flags(impl))


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, impl: str) -> None:
    """Load a checkpointed state but keep this run's implementation (a state dict carries its own flags)."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        group.update(_impl_flags(impl))


# --- precision -----------------------------------------------------------------------------------------------
# Narrower subnets than this stay fp32 under "auto" on CPU: their matrix multiplies are too small for bf16
# to win over autocast's per-step weight casts (measured by benchmarks/profile_step.py).
CPU_BF16_MIN_HIDDEN = 1024


def resolve_flow_precision(cfg: Config, device: torch.device) -> str:
    """cfg.flow_precision for `device`: auto -> bf16 on CUDA GPUs with native bf16 (compute capability 8.0 and
    up) and, for subnets at least CPU_BF16_MIN_HIDDEN wide, on CPUs with native bf16; fp32 elsewhere."""
    if cfg.flow_precision != "auto":
        return cfg.flow_precision
    if device.type == "cpu" and cfg.flow_hidden < CPU_BF16_MIN_HIDDEN:
        return "fp32"
    return "bf16" if device_has_bf16(device) else "fp32"


def set_flow_precision(flow: nn.Module, precision: str) -> int:
    """Switch every coupling subnet of `flow` to bf16 or fp32 Linear layers; returns how many it set."""
    subnets = [m for m in flow.modules() if isinstance(m, Subnet)]
    for m in subnets:
        m.bf16 = precision == "bf16"
    return len(subnets)


# --- the backbone on CUDA ------------------------------------------------------------------------------------
def cuda_backbone_dtype(amp: bool, device: torch.device, need_grad: bool) -> torch.dtype | None:
    """The autocast dtype of a backbone pass on a CUDA `device` under cfg.amp: bf16 where the GPU has it natively;
    on older GPUs (T4, V100) fp16 for passes without a gradient, whose activations stay far inside fp16's range
    (benchmarks/fp16_headroom.py: at most 135 against 65504), and float32 (None) for passes with one, which fp16
    would need a loss scaler for."""
    if not amp:
        return None
    if device_has_bf16(device):
        return torch.bfloat16
    return None if need_grad else torch.float16


def describe_cuda_backbone(amp: bool, device: torch.device) -> str:
    """cuda_backbone_dtype in words for metrics.json: bf16, fp16 (passes without a gradient) or fp32."""
    dtype = cuda_backbone_dtype(amp, device, need_grad=False)
    return {torch.bfloat16: "bf16", torch.float16: "fp16-no-grad", None: "fp32"}[dtype]


# --- the backbone on CPU ------------------------------------------------------------------------------------
def resolve_cpu_bf16_backbone(mode: str) -> bool:
    """cfg.cpu_bf16_backbone: on; auto -> on for CPUs with native bf16 (bf16 convolutions are emulated, and
    slower, elsewhere); off (the default)."""
    return mode == "on" or (mode == "auto" and cpu_has_bf16())


# --- compile -------------------------------------------------------------------------------------------------
def resolve_compile(mode: str, device: torch.device) -> bool:
    """auto -> off: on CPU the step is matrix multiplies and one fused Adam kernel, which compiling does not
    speed up measurably while costing tens of seconds of compile time (benchmarks/profile_step.py)."""
    return mode == "on"


class CompiledFlow:
    """torch.compile(flow) that falls back to the eager flow, with one warning, when compiling fails."""

    def __init__(self, flow: nn.Module):
        self.flow = flow
        self.compiled = torch.compile(flow)
        self.failed: str | None = None

    def __call__(self, x: torch.Tensor):
        if self.failed is None:
            try:
                return self.compiled(x)
            except Exception as err:  # any backend failure (no compiler, unsupported op): run eagerly
                self.failed = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                warnings.warn(f"compile_flow: torch.compile failed ({self.failed}); the flow runs eagerly",
                              RuntimeWarning, stacklevel=2)
        return self.flow(x)


# --- all together --------------------------------------------------------------------------------------------
def setup(model, cfg: Config, device: torch.device) -> tuple[torch.optim.Adam, dict]:
    """Apply cfg's fast-path settings to `model` (on `device`) and build its optimiser.

    Returns (optimizer, record) where record = {"optimizer": ..., "flow_precision": ..., "compile_flow": ...,
    and on CPU "cpu_bf16_backbone", on CUDA "cuda_backbone": ...} holds what was resolved; describe(record) is its
    one-line form. Settings that cannot fit the GPU's memory are a one-line error here (adnkit.model.memory)."""
    memory.check_fits(model, cfg, device)
    impl = resolve_optimizer_impl(cfg.optimizer_impl, device)
    precision = model.set_flow_precision(device)
    compiled = resolve_compile(cfg.compile_flow, device)
    model.set_flow_fn(CompiledFlow(model.flow) if compiled else None)
    optimizer = build_optimizer(model.trainable_parameters(), cfg, impl)
    record = dict(optimizer=impl, flow_precision=precision, compile_flow="on" if compiled else "off")
    if device.type == "cpu":
        record["cpu_bf16_backbone"] = "on" if resolve_cpu_bf16_backbone(cfg.cpu_bf16_backbone) else "off"
    if device.type == "cuda":
        record["cuda_backbone"] = describe_cuda_backbone(cfg.amp, device)
    return optimizer, record


def describe(record: dict) -> str:
    """The record as one line: 'optimizer=fused flow_precision=bf16 compile_flow=off'."""
    return " ".join(f"{k}={v}" for k, v in record.items())
