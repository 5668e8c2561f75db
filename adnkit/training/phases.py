"""Where a training run's wall clock goes: named phases timed by one clock, recorded in metrics.json.

`Phases` times the blocks of `train` it is given by name (`with phases("eval.backbone"): ...`). A phase
opened inside another pauses the outer one, so every second is counted once and the phases of a run add up
to its wall time (minus the few milliseconds of writing metrics.json itself). Each phase also keeps the CPU
time of the process while it ran (all threads): on a shared machine, wall time minus CPU time is time spent
waiting for a core. On CUDA the clock waits for the device at every switch (`sync`), so work queued in one
phase is not charged to the next.

`process_age` is how long the process ran before `train` was called: in a `adnkit train` process, the
interpreter's start, the imports and the argument parsing (metrics.json's `startup_seconds`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from adnkit.model.embedding import PhaseTimer


class Phases:
    """Wall and CPU seconds per named phase of one run; nested phases pause the phase around them."""

    def __init__(self, sync: bool = False):
        self.sync = sync
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._stack: list[str] = []
        self._mark = self._now()
        self.started = self._mark[0]

    def _now(self) -> tuple[float, float]:
        if self.sync:
            torch.cuda.synchronize()
        return time.perf_counter(), time.process_time()

    def _charge(self) -> None:
        """Charge the time since the last switch to the phase open now (if any)."""
        now = self._now()
        if self._stack:
            name = self._stack[-1]
            self.wall[name] = self.wall.get(name, 0.0) + now[0] - self._mark[0]
            self.cpu[name] = self.cpu.get(name, 0.0) + now[1] - self._mark[1]
        self._mark = now

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._charge()
        self._stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def prefixed(self, prefix: str) -> PhaseTimer:
        """A timer that names its phases `prefix.name` (eval.backbone, train.decode, ...)."""
        return lambda name: self(f"{prefix}.{name}")

    def elapsed(self) -> float:
        """Wall seconds since this object was made."""
        return time.perf_counter() - self.started

    def record(self) -> dict[str, dict[str, float]]:
        """{"wall": {phase: seconds}, "cpu": {phase: seconds}}, rounded to milliseconds, in order of first use."""
        return {"wall": {k: round(v, 3) for k, v in self.wall.items()},
                "cpu": {k: round(v, 3) for k, v in self.cpu.items()}}


def process_age() -> float:
    """Seconds since this process started (Linux: /proc/self/stat); NaN where that cannot be read."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return math.nan
