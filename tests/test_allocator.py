"""The C allocator during a run: a block freed by one step is reused by the next without page faults, and the
memory kept for that goes back to the system when the run ends."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
import torch

from adnkit.training.allocator import _glibc, reused_memory

pytestmark = pytest.mark.skipif(_glibc() is None, reason="glibc only")


def faults_per_step(steps: int = 8, mib: int = 64) -> list[int]:
    """Minor page faults of each of `steps` steps that write a `mib` MiB tensor and free it (as a training step
    does with its activations)."""
    faults = []
    for _ in range(steps):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = torch.ones(mib << 18)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del block
    return faults


def resident_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def test_a_freed_block_is_reused_without_page_faults_during_a_run():
    with reused_memory() as applied:
        during = faults_per_step()
    assert applied
    assert sum(during[-4:]) < 1000, during  # once the heap has grown, the freed block's pages are reused
    assert min(faults_per_step(steps=1, mib=512)) > 100000  # outside a run a large block comes fresh (128 k pages)


def test_the_kept_memory_goes_back_when_the_run_ends():
    with reused_memory():
        base = resident_mib()
        block = torch.ones(256 << 18)
        del block
        kept = resident_mib() - base
    released = resident_mib() - base
    assert kept > 200, kept  # freed, but kept for the next step
    assert released < 50, released
