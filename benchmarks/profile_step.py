"""Profile of one training step of the flow on cached embeddings: where a step's time goes, per path.

A step of adnkit's training loop (adnkit.train._epoch_cached) on a preset's flow:
  data      gather batch_size x train_transforms rows from the cached view pool [N, V, D], move to the device
  forward   flow forward + DifferNet's NLL loss
  backward  zero_grad + loss.backward()
  optimizer Adam's step over every flow weight
Paths: "fp32-plain" (float32 Linear layers, the per-parameter Adam loop: the kit before issue 14), the single
changes "fp32-<impl>" and "bf16-plain", and "fast" (what Config's automatic defaults resolve to on this
device, adnkit.fastpath.setup); with --compile also "fast-compiled" (its compile time reported apart).
The embeddings are random rows: a step's cost does not depend on their values. Each path runs a warm-up step
(Adam allocates its state) and then --repeats steps; the fastest step is reported with its phases, as seconds
and shares of the step. Prints one JSON document (and writes it with --out).

    python benchmarks/profile_step.py --preset paper --threads 1 2 --repeats 3 \
        --out benchmarks/results/profile-step-paper-cpu.json
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from pathlib import Path

import torch

from adnkit import fastpath
from adnkit.config import preset
from adnkit.flow import count_parameters, nll_loss
from adnkit.model import DifferNet
from adnkit.train import resolve_device

PHASES = ("data", "forward", "backward", "optimizer")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def path_settings(name: str, device: torch.device) -> dict:
    """Config overrides of a named path."""
    fused_or_foreach = fastpath.resolve_optimizer_impl("auto", device)
    return {
        "fp32-plain": dict(flow_precision="fp32", optimizer_impl="plain", compile_flow="off"),
        f"fp32-{fused_or_foreach}": dict(flow_precision="fp32", optimizer_impl=fused_or_foreach, compile_flow="off"),
        "bf16-plain": dict(flow_precision="bf16", optimizer_impl="plain", compile_flow="off"),
        "fast": dict(flow_precision="auto", optimizer_impl="auto", compile_flow="off"),
        "fast-compiled": dict(flow_precision="auto", optimizer_impl="auto", compile_flow="on"),
    }[name]


def profile_path(cfg, device: torch.device, repeats: int, pool_images: int, seed: int = 0) -> dict:
    """Time `repeats` steps (after one warm-up) of cfg's flow with cfg's fast-path settings."""
    model = DifferNet(cfg, progress=False).to(device)
    optimizer, record = fastpath.setup(model, cfg, device)
    parameters = count_parameters(model.flow)
    gen = torch.Generator().manual_seed(seed)
    pool = torch.randn(pool_images, cfg.feature_cache_views, cfg.embedding_dim, generator=gen)
    model.train()
    steps, first_step_s = [], None
    for step in range(repeats + 1):
        times = {}
        t0 = time.perf_counter()
        idx = torch.randperm(pool_images, generator=gen)[:cfg.batch_size]
        pick = torch.rand(len(idx), cfg.feature_cache_views, generator=gen).argsort(dim=1)[:, :cfg.train_transforms]
        rows = pool[idx[:, None], pick].reshape(-1, cfg.embedding_dim).to(device)
        _sync(device)
        t1 = time.perf_counter()
        z, log_jac_det = model.flow_forward(rows)
        loss = nll_loss(z, log_jac_det)
        loss_value = loss.item()
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _sync(device)
        t3 = time.perf_counter()
        optimizer.step()
        _sync(device)
        t4 = time.perf_counter()
        times = dict(data=t1 - t0, forward=t2 - t1, backward=t3 - t2, optimizer=t4 - t3)
        if step == 0:
            first_step_s = t4 - t0
            dtypes = dict(z=str(z.dtype), log_jac_det=str(log_jac_det.dtype), loss=str(loss.dtype))
            continue
        steps.append(times)
    best = min(steps, key=lambda t: sum(t.values()))
    total = sum(best.values())
    result = dict(
        fast_path=fastpath.describe(record),
        flow_parameters=parameters,
        step_s=total,
        phases_s=best,
        shares={k: v / total for k, v in best.items()},
        phase_min_s={k: min(t[k] for t in steps) for k in PHASES},
        all_step_s=[sum(t.values()) for t in steps],
        first_step_s=first_step_s,
        last_loss=loss_value,
        dtypes=dtypes,
    )
    fn = model.__dict__.get("_flow_fn")
    if isinstance(fn, fastpath.CompiledFlow):
        result["compile_failed"] = fn.failed
        result["compile_s_approx"] = first_step_s - total
    del model, optimizer, pool
    gc.collect()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per path (best is reported)")
    parser.add_argument("--paths", nargs="+", default=None,
                        help="default: fp32-plain fp32-<fused|foreach> bf16-plain fast")
    parser.add_argument("--compile", action="store_true", help="also profile fast-compiled")
    parser.add_argument("--pool-images", type=int, default=120, help="images in the random view pool")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="preset overrides, e.g. flow_hidden=512 (ints/floats parsed)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key] = int(value) if value.lstrip("-").isdigit() else value
    base = preset(args.preset, device=str(device), pretrained="random", **overrides)
    paths = args.paths or ["fp32-plain", f"fp32-{fastpath.resolve_optimizer_impl('auto', device)}", "bf16-plain",
                           "fast"]
    if args.compile:
        paths.append("fast-compiled")
    result = dict(
        benchmark="profile_step", preset=args.preset, overrides=overrides, device=str(device),
        torch=torch.__version__, machine=platform.machine(), processor=platform.processor(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(), cpu_native_bf16=fastpath.cpu_has_bf16(),
        gpu=torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        rows_per_step=base.batch_size * base.train_transforms, embedding_dim=base.embedding_dim,
        flow=dict(blocks=base.flow_blocks, hidden=base.flow_hidden, hidden_layers=base.flow_hidden_layers),
        repeats=args.repeats, runs=[],
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        by_path = {}
        for name in paths:
            cfg = base.replace(**path_settings(name, device))
            print(f"threads={threads} {name} ...", file=sys.stderr, flush=True)
            by_path[name] = profile_path(cfg, device, args.repeats, args.pool_images)
        plain = by_path["fp32-plain"]["step_s"] if "fp32-plain" in by_path else None
        for entry in by_path.values():
            entry["speedup_vs_fp32_plain"] = plain / entry["step_s"] if plain else None
        result["runs"].append(dict(threads=threads, paths=by_path))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
