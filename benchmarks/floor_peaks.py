"""What this device does at its best on the work a training run is made of, measured in the calling process:
the convolutions of the backbone at each scale, the flow's matrix products at a step's and at scoring's row
counts (forward, and backward for training), memory bandwidth (Adam's update, rotations), decoding the run's
image files, and writing a file to the run's disk (with and without fsync).

Each number is the best of a few repeats, and by the more demanding of two clocks: wall time, and the process's
CPU time divided by the thread count (on a shared core the CPU clock does not count the time spent waiting, so
the peak is not lowered by another job's load). FLOP counts come from torch.utils.flop_counter on the run's own
modules. Used by benchmarks/floor.py.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from adnkit.data.dataset import ImageDataset
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import nll_loss

ADAM_BYTES_PER_WEIGHT = 28
"""Adam in float32 reads weight, gradient and both moments and writes weight and both moments: 7 x 4 bytes."""


def sync_for(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def best_seconds(fn, repeats: int, threads: int, sync=lambda: None) -> dict:
    """{"wall": best wall seconds, "cpu": best CPU seconds / threads, "best": the smaller} of `repeats` calls
    after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        sync()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync()
        walls.append(time.perf_counter() - w0)
        cpus.append((time.process_time() - c0) / threads)
    return dict(wall=min(walls), cpu=min(cpus), best=min(min(walls), min(cpus)))


def count_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def backbone_peaks(cfg, device: torch.device, threads: int, batches=(8, 32, 96), repeats: int = 3) -> dict:
    """Per scale size: the backbone's FLOPs per view and the best GFLOP/s over `batches` (no autograd, as the
    frozen backbone runs; bf16 autocast on CUDA when cfg.amp)."""
    model = DifferNet(cfg.replace(pretrained="random"), progress=False).to(device).eval()
    sync, out = sync_for(device), {}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.amp)
    for size in cfg.scale_sizes:
        one = torch.randn(1, 3, size, size, device=device)
        with torch.no_grad(), autocast:
            flops = count_flops(lambda x=one: model.backbone(x))
            per_view = {}
            for batch in batches:
                x = torch.randn(batch, 3, size, size, device=device)
                t = best_seconds(lambda x=x: model.backbone(x), repeats, threads, sync)
                per_view[batch] = t["best"] / batch
        best = min(per_view.values())
        out[str(size)] = dict(gflop_per_view=flops / 1e9, best_s_per_view=best, gflops=flops / best / 1e9,
                              s_per_view_by_batch={str(b): s for b, s in per_view.items()})
    return out


def flow_peaks(cfg, device: torch.device, threads: int, rows_step: int, rows_score: int, repeats: int = 3) -> dict:
    """The flow's FLOPs per row (forward; forward + backward) counted on the run's flow, and the throughput of
    its matrix products alone at a step's rows (forward, backward) and at scoring's rows (forward), in the
    precision the run's flow uses."""
    model = DifferNet(cfg.replace(pretrained="random"), progress=False).to(device)
    precision = model.set_flow_precision(device)
    x = torch.randn(rows_step, cfg.embedding_dim, device=device)
    fwd = count_flops(lambda: model.flow_forward(x))

    def fwd_bwd():
        z, log_jac_det = model.flow_forward(x)
        nll_loss(z, log_jac_det).backward()

    both = count_flops(fwd_bwd)
    linears = [m for m in model.flow.modules() if isinstance(m, torch.nn.Linear)]
    shapes = sorted({(m.in_features, m.out_features) for m in linears})
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    sync = sync_for(device)

    def products(rows: int, backward: bool) -> float:
        """GFLOP/s of every distinct Linear shape of the flow, weighted by how often it occurs."""
        flops = seconds = 0.0
        for fan_in, fan_out in shapes:
            n = sum(1 for m in linears if (m.in_features, m.out_features) == (fan_in, fan_out))
            a = torch.randn(rows, fan_in, device=device, dtype=dtype)
            w = torch.randn(fan_out, fan_in, device=device, dtype=dtype)
            g = torch.randn(rows, fan_out, device=device, dtype=dtype)
            if backward:  # grad input g @ W and grad weight g^T @ a
                t = best_seconds(lambda a=a, w=w, g=g: (g @ w, g.t() @ a), repeats, threads, sync)["best"]
                flops += n * 4 * rows * fan_in * fan_out
            else:
                t = best_seconds(lambda a=a, w=w: F.linear(a, w), repeats, threads, sync)["best"]
                flops += n * 2 * rows * fan_in * fan_out
            seconds += n * t
        return flops / seconds / 1e9

    out = dict(precision=precision, parameters=sum(p.numel() for p in model.flow.parameters()),
               gflop_per_row_forward=fwd / rows_step / 1e9, gflop_per_row_backward=(both - fwd) / rows_step / 1e9,
               rows_step=rows_step, rows_score=rows_score,
               gflops_forward_step=products(rows_step, False), gflops_backward_step=products(rows_step, True),
               gflops_forward_score=products(rows_score, False))
    return out


def memory_bandwidth(device: torch.device, threads: int, mib: int = 256, repeats: int = 5) -> dict:
    """Triad a = b + 0.5 c over `mib` MiB arrays: bytes read and written per second (GB/s)."""
    n = mib * 2**20 // 4
    a, b, c = (torch.rand(n, device=device) for _ in range(3))
    t = best_seconds(lambda: torch.add(b, c, alpha=0.5, out=a), repeats, threads, sync_for(device))
    return dict(gbytes_per_s=3 * n * 4 / t["best"] / 1e9, array_mib=mib)


def decode_seconds(samples, image_size: int, min_side: int, count: int = 24, repeats: int = 2) -> dict:
    """Best seconds to read, decode and resize one of the run's images (as ImageDataset does), over a sample."""
    picked = samples[:: max(1, len(samples) // count)][:count]
    dataset = ImageDataset(picked, image_size, min_side=min_side)
    best = min(_time_all(dataset) for _ in range(repeats))
    return dict(s_per_image=best / len(dataset), sampled=len(dataset))


def _time_all(dataset) -> float:
    t0 = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return time.perf_counter() - t0


def disk_write(folder: Path, mib: int = 512) -> dict:
    """GB/s of torch.save of `mib` MiB of tensors to a file in `folder`, without and with fsync (best of 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"w": torch.rand(mib * 2**20 // 4)}
    out = {}
    for fsync in (False, True):
        times = []
        for _ in range(2):
            fd, name = tempfile.mkstemp(dir=folder, suffix=".tmp")
            t0 = time.perf_counter()
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
                fh.flush()
                if fsync:
                    os.fsync(fh.fileno())
            times.append(time.perf_counter() - t0)
            Path(name).unlink()
        out["gbytes_per_s_fsync" if fsync else "gbytes_per_s"] = mib * 2**20 / min(times) / 1e9
    out["mib"] = mib
    return out
