"""When a run's resume state reaches the disk, so that checkpoints cost the run almost nothing.

After every meta epoch the trainer hands its state (`Progress.checkpoint`) to `Checkpoints.meta_epoch_done`, which
- copies it into an in-memory snapshot (a memory copy of the weights and Adam's moments, into buffers reused
  from one meta epoch to the next);
- writes the snapshot to checkpoint.pt in a background thread (atomically and fsynced, adnkit.core.files) when
  `checkpoint_minutes` have passed since the last write began, and after the last meta epoch, while training
  goes on;
- on Ctrl-C or an error, `flush` writes the newest snapshot not yet on disk before the exception goes on.

What can be lost: Ctrl-C, a non-finite loss or any other exception raised in Python loses only the meta epoch
in progress (as when every meta epoch was written); a killed process or a crashed machine loses at most
`checkpoint_minutes` plus the meta epoch in progress (checkpoint_minutes=0 writes after every meta epoch).
The last checkpoint of a finished run leaves out Adam's state, which only a further step would read (at the
paper preset that is 1.4 of its 2.1 GB). Resuming from any checkpoint is exact: each holds the state at the end
of a meta epoch, the random generator's included. The cost: the snapshot holds a second copy of the state in
memory (about 2.1 GB at the paper preset's flow, 0.13 GB at the cpu preset's).
"""

from __future__ import annotations

import threading
import time

import torch

from adnkit.runs.folder import Run


def copy_into(buffer, state):
    """`state` (tensors in dicts, lists and tuples) copied to the CPU, into `buffer`'s tensors where they fit."""
    if isinstance(state, torch.Tensor):
        if (isinstance(buffer, torch.Tensor) and buffer.shape == state.shape and buffer.dtype == state.dtype
                and buffer.device.type == "cpu"):
            return buffer.copy_(state.detach())
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        old = buffer if isinstance(buffer, dict) else {}
        return {k: copy_into(old.get(k), v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        old = buffer if isinstance(buffer, (list, tuple)) and len(buffer) == len(state) else [None] * len(state)
        return type(state)(copy_into(b, v) for b, v in zip(old, state, strict=True))
    return state


class Checkpoints:
    """The checkpoints of one run: snapshots after every meta epoch, writes at most every `minutes`."""

    def __init__(self, run: Run, minutes: float, on_disk: int):
        self.run, self.interval = run, 60.0 * minutes
        self.snapshot: dict | None = None
        self.snapshot_meta: int | None = on_disk
        """The meta epoch the snapshot holds; None while it is being copied."""
        self.written_meta = on_disk
        self.last_write = time.monotonic()
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.writes, self.bytes, self.write_seconds = 0, 0, 0.0

    def meta_epoch_done(self, state: dict, meta: int, last: bool) -> None:
        """Take the snapshot of the state after meta epoch `meta`; write it when due (or `last`)."""
        self.wait()  # the buffers may still be on their way to the disk
        self.snapshot_meta = None  # a copy cut short by Ctrl-C is never written
        self.snapshot = copy_into(self.snapshot, state)
        self.snapshot_meta = meta
        if last or time.monotonic() - self.last_write >= self.interval:
            self.last_write = time.monotonic()
            self.thread = threading.Thread(target=self._write_in_background, args=(self.snapshot, meta),
                                           name="adnkit-checkpoint", daemon=True)
            self.thread.start()

    def wait(self) -> None:
        """Wait for the write in progress; a write that failed raises its error here."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def flush(self) -> None:
        """Wait for the write in progress, then write the newest snapshot if it is not on disk yet."""
        self.wait()
        if self.snapshot_meta is not None and self.snapshot_meta > self.written_meta:
            self._write(self.snapshot, self.snapshot_meta)

    def record(self) -> dict:
        """metrics.json's `checkpoints`: how many were written, their bytes, the seconds the writes took (in
        the background, beside training)."""
        return dict(writes=self.writes, bytes=self.bytes, write_seconds=round(self.write_seconds, 3),
                    every_minutes=self.interval / 60.0)

    def _write_in_background(self, state: dict, meta: int) -> None:
        try:
            self._write(state, meta)
        except BaseException as err:  # noqa: BLE001 - handed to the main thread by wait()
            self.error = err

    def _write(self, state: dict, meta: int) -> None:
        t0 = time.perf_counter()
        self.run.save_checkpoint(state)
        self.write_seconds += time.perf_counter() - t0
        self.writes += 1
        self.bytes += self.run.checkpoint_bytes
        self.written_meta = max(self.written_meta, meta)
