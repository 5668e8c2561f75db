"""Where a run computes, what that device is, and how much memory it took.

`resolve_device("auto")` is CUDA when a GPU is visible; else Apple's MPS when this torch runs every kind of
operation adnkit uses there (`mps_missing_op` tries them once); else the CPU. Falling back from an MPS that lacks
an operation is said once. Asking for a device that is not there is a one-line error naming the fix, not a crash
deep inside torch. `device_record` is what metrics.json keeps of the device a run used.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import resource
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from adnkit.core.errors import ConfigError

BF16_MIN_CAPABILITY = (8, 0)
"""CUDA compute capability from which bf16 runs natively (A100, L4, H100 and later). Below it (T4, V100)
torch emulates bf16 matrix products slowly and cuDNN has no bf16 convolutions."""

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA if present, else MPS if it runs adnkit's operations, else CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            missing = mps_missing_op()
            if missing is None:
                return torch.device("mps")
            _warn_mps_fallback(missing)
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not a torch device; use {DEVICE_CHOICES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r} but no CUDA GPU is visible; use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name!r} but this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                              f"use --device cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps":
        if not mps_available():
            raise ConfigError(f"device={name!r} but Apple's MPS is not available here; use --device cpu (or auto)")
        missing = mps_missing_op()
        if missing is not None:
            raise ConfigError(f"device={name!r}: this torch lacks {missing} on MPS; use --device cpu, or set "
                              "PYTORCH_ENABLE_MPS_FALLBACK=1 to run that operation on the CPU")
    elif device.type != "cpu":
        raise ConfigError(f"device={name!r} is not supported; use {DEVICE_CHOICES}")
    return device


@functools.lru_cache(maxsize=1)
def _warn_mps_fallback(missing: str) -> None:
    warnings.warn(f"device auto: Apple's MPS lacks {missing} in this torch; computing on the CPU "
                  "(PYTORCH_ENABLE_MPS_FALLBACK=1 runs MPS with that operation on the CPU)", RuntimeWarning,
                  stacklevel=3)


@functools.lru_cache(maxsize=1)
def mps_missing_op() -> str | None:
    """The first operation adnkit needs that this torch cannot run on MPS (None when all run); tried once."""
    return missing_op(torch.device("mps"))


def missing_op(device: torch.device) -> str | None:
    """Run every kind of operation adnkit's training, scoring and explaining use, at a tiny size, forward and
    backward, on `device`: the rotation (affine_grid, nearest grid_sample), the rescaling (nearest interpolate),
    AlexNet's and the attention blocks' layers, the flow's coupling arithmetic and an Adam step. Returns the name
    of the first one that fails ("aten::..." when torch names it), else None."""
    try:
        _try_ops(device)
    except (NotImplementedError, RuntimeError, TypeError) as err:
        found = re.search(r"aten::[\w.]+", str(err))
        return found.group(0) if found else f"an operation ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    return None


def _try_ops(device: torch.device) -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 32, 32, generator=gen).to(device)
    theta = torch.tensor([[[0.6, -0.8, 0.0], [0.8, 0.6, 0.0]]] * 2).to(device)
    grid = F.affine_grid(theta, [2, 3, 32, 32], align_corners=False)
    x = F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    x = F.interpolate(x, size=(16, 16), mode="nearest").requires_grad_(True)
    weight = torch.randn(8, 3, 5, 5, generator=gen).to(device).requires_grad_(True)
    h = F.max_pool2d(F.relu(F.conv2d(x, weight, stride=2, padding=2)), kernel_size=3, stride=2)
    gate = torch.sigmoid(F.adaptive_avg_pool2d(h, 1) + F.adaptive_max_pool2d(h, 1))  # SE, CBAM
    spatial = torch.cat([h.mean(dim=1, keepdim=True), h.amax(dim=1, keepdim=True)], dim=1)
    h = h * gate * torch.sigmoid(F.conv2d(spatial, torch.ones(1, 2, 3, 3, device=device), padding=1))
    h = h + F.conv1d(h.mean(dim=(2, 3)).unsqueeze(1), torch.ones(1, 1, 3, device=device), padding=1).view(2, 8, 1, 1)
    emb = h.float().mean(dim=(2, 3))
    linear = torch.randn(8, 4, generator=gen).to(device).requires_grad_(True)
    s, t = F.linear(F.leaky_relu(emb[:, :4]), linear).chunk(2, dim=1)
    s = 3.0 * 0.636 * torch.atan(s / 3.0)  # DifferNet's soft clamp
    z = torch.cat([emb[:, 4:] * torch.exp(s) + t, emb[:, :4]], dim=1)
    loss = (0.5 * z.pow(2).sum(dim=1) - s.sum(dim=1)).mean()
    loss.backward()
    torch.optim.Adam([weight, linear], lr=1e-3).step()
    float(loss.detach().cpu())  # wait for the device: a lazy backend fails here


def device_name(device: torch.device) -> str:
    """The device in words: the GPU's name, the CPU's model, or "Apple MPS"."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).name
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def total_memory_bytes(device: torch.device) -> int:
    """The memory the device has: the GPU's own, MPS's recommended maximum, else the machine's RAM (0 if unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(torch.mps.recommended_max_memory())
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


def cuda_capability(device: torch.device) -> tuple[int, int] | None:
    """The GPU's compute capability (7, 5) for a T4, (8, 9) for an L4; None off CUDA."""
    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return int(props.major), int(props.minor)


def has_native_bf16(device: torch.device) -> bool:
    """A CUDA GPU that multiplies and convolves bf16 natively (compute capability 8.0 or more). On older GPUs
    torch.cuda.is_bf16_supported() can still say True, through a slow emulation."""
    capability = cuda_capability(device)
    return capability is not None and capability >= BF16_MIN_CAPABILITY


def device_record(device: torch.device) -> dict:
    """What metrics.json keeps of the device a run computed on: its name, total memory, CUDA compute capability
    ("" off CUDA) and torch's version."""
    capability = cuda_capability(device)
    return dict(device_name=device_name(device), device_memory_mb=round(total_memory_bytes(device) / 2**20, 1),
                device_capability="" if capability is None else f"{capability[0]}.{capability[1]}",
                torch_version=torch.__version__)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
