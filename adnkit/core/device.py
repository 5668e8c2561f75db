"""Where a run computes, and how much memory it took.

`resolve_device("auto")` is CUDA when a GPU is visible, else the CPU; asking for CUDA where there is none is a
one-line error, not a crash deep inside torch.
"""

from __future__ import annotations

import resource

import torch

from adnkit.core.errors import AdnkitError


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA if present else CPU; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AdnkitError(f"device={name!r} but no CUDA GPU is visible; use --device cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise AdnkitError(f"device={name!r} is not a torch device; use auto, cpu or cuda[:N]") from None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
