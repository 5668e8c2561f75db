"""Atomic, pickle-free-to-load checkpoints and run artefacts.

Writes go to a temporary file in the same folder, are flushed and fsynced, then renamed over the target, so
a crash or Ctrl-C leaves either the old file or the new one, never half of one. Loads use
`torch.load(weights_only=True)`, which admits tensors, numbers, strings and containers only: a checkpoint
cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch

from adnkit.core.errors import AdnkitError

_PARTIAL = ".tmp"


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_PARTIAL)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial_writes(path: Path) -> int:
    """Delete what a killed process left of an atomic write of `path` (its hidden temporary files); how many."""
    path = Path(path)
    partial = list(path.parent.glob(f".{path.name}.*{_PARTIAL}"))
    for tmp in partial:
        tmp.unlink(missing_ok=True)
    return len(partial)


def save_torch(obj, path: Path) -> None:
    """torch.save(obj) atomically."""
    _atomic_write(path, lambda fh: torch.save(obj, fh))


def load_torch(path: Path) -> dict:
    """torch.load with weights_only=True; a clear AdnkitError for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise AdnkitError(f"{path}: no such file; train a run first (adnkit train ... --out {path.parent})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - corrupt, truncated, or holding objects we refuse to unpickle
        raise AdnkitError(f"{path}: cannot load ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
                          "the file is damaged or not an adnkit checkpoint") from None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def save_text(text: str, path: Path) -> None:
    _atomic_write(path, lambda fh: fh.write(text.encode()))


def save_json(obj, path: Path) -> None:
    save_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)
