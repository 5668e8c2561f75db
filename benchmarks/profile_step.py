"""Profile of one training step of the flow on cached embeddings: where a step's time goes, per path.

A step of adnkit's training loop (adnkit.training.steps.epoch_cached) on a preset's flow:
  data      gather batch_size x train_transforms rows from the cached view pool [N, V, D], move to the device
  forward   flow forward + DifferNet's NLL loss
  backward  zero_grad + loss.backward()
  optimizer Adam's step over every flow weight
Paths: "fp32-plain" (float32 Linear layers, the per-parameter Adam loop: the kit before issue 14), the single
changes "fp32-<impl>" and "bf16-plain", and "fast" (what Config's automatic defaults resolve to on this
device, adnkit.model.fastpath.setup); with --compile also "fast-compiled" (its compile time reported apart).
The embeddings are random rows: a step's cost does not depend on their values. The pool holds
max(feature_cache_views, train_transforms) views per image, so a preset that draws fresh rotations every step
(feature_cache_views 0, the paper recipe) is timed too: its flow step is the same, and the backbone passes such a
step also makes are not in this profile (benchmarks/test_time.py times the backbone). All paths are built at once
(about 3 GB each at the paper preset: weights, gradients, Adam's two moments), each runs a warm-up step (Adam
allocates its state), then --repeats rounds of one step per path in turn, so that on a shared machine every
path sees the same load; the fastest step of each path is reported with its phases, as seconds and shares.
Each thread count also measures the device's ceiling (matmul_ceiling): how much faster one of the flow's
matrix products runs in bf16 than in float32, and what a cast costs; from it, best_possible_speedup is the
most any bf16 path could gain over fp32-plain here.
Prints one JSON document (and writes it with --out).

    python benchmarks/profile_step.py --preset paper --threads 1 2 --repeats 3 \
        --out benchmarks/results/profile-step-paper-cpu.json
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from contextlib import nullcontext

import torch
from jsonout import emit, finite, require
from test_time import best_of  # noqa: E402 - benchmarks/ is on sys.path when a script runs

from adnkit.config.settings import preset
from adnkit.core.device import resolve_device
from adnkit.model import fastpath
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import count_parameters, nll_loss
from adnkit.training.allocator import reused_memory

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


class PathRun:
    """One path's model, optimiser and random view pool, stepping on demand."""

    def __init__(self, cfg, device: torch.device, pool_images: int, seed: int = 0):
        self.cfg, self.device = cfg, device
        self.model = DifferNet(cfg, progress=False).to(device)
        self.optimizer, self.record = fastpath.setup(self.model, cfg, device)
        self.gen = torch.Generator().manual_seed(seed)
        self.pool_views = max(cfg.feature_cache_views, cfg.train_transforms)
        self.pool = torch.randn(pool_images, self.pool_views, cfg.embedding_dim, generator=self.gen)
        self.model.train()
        self.steps: list[dict] = []
        self.first_step_s = None

    def step(self) -> None:
        cfg, device, model, optimizer = self.cfg, self.device, self.model, self.optimizer
        t0 = time.perf_counter()
        idx = torch.randperm(len(self.pool), generator=self.gen)[:cfg.batch_size]
        pick = torch.rand(len(idx), self.pool_views, generator=self.gen).argsort(dim=1)[:, : cfg.train_transforms]
        rows = self.pool[idx[:, None], pick].reshape(-1, cfg.embedding_dim).to(device)
        require(rows.shape[0] == cfg.batch_size * cfg.train_transforms,
                f"a step drew {rows.shape[0]} rows, not batch_size x train_transforms = "
                f"{cfg.batch_size * cfg.train_transforms} (pool of {len(self.pool)} images x {self.pool_views} views)")
        _sync(device)
        t1 = time.perf_counter()
        z, log_jac_det = model.flow_forward(rows)
        loss = nll_loss(z, log_jac_det)
        self.last_loss = loss.item()
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _sync(device)
        t3 = time.perf_counter()
        optimizer.step()
        _sync(device)
        t4 = time.perf_counter()
        if self.first_step_s is None:  # warm-up: Adam allocates its state, compile compiles
            self.first_step_s = t4 - t0
            self.dtypes = dict(z=str(z.dtype), log_jac_det=str(log_jac_det.dtype), loss=str(loss.dtype))
            return
        self.steps.append(dict(data=t1 - t0, forward=t2 - t1, backward=t3 - t2, optimizer=t4 - t3))

    def summary(self) -> dict:
        steps = self.steps
        require(len(steps) > 0, "no timed step (repeats must be at least 1)")
        require(finite(self.last_loss), f"the last step's loss is {self.last_loss}")
        best = min(steps, key=lambda t: sum(t.values()))
        total = sum(best.values())
        result = dict(
            fast_path=fastpath.describe(self.record),
            flow_parameters=count_parameters(self.model.flow),
            rows_per_step=self.cfg.batch_size * self.cfg.train_transforms,
            step_s=total,
            phases_s=best,
            shares={k: v / total for k, v in best.items()},
            phase_min_s={k: min(t[k] for t in steps) for k in PHASES},
            all_step_s=[sum(t.values()) for t in steps],
            first_step_s=self.first_step_s,
            last_loss=self.last_loss,
            dtypes=self.dtypes,
        )
        fn = self.model.__dict__.get("_flow_fn")
        if isinstance(fn, fastpath.CompiledFlow):
            result["compile_failed"] = fn.failed
            result["compile_s_approx"] = self.first_step_s - total
        return result


def profile_paths(cfgs: dict, device: torch.device, repeats: int, pool_images: int) -> dict:
    """Warm up every path, then `repeats` rounds of one step per path in turn, so that on a shared machine
    every path sees the same load; the fastest step of each path is reported."""
    runs = {name: PathRun(cfg, device, pool_images) for name, cfg in cfgs.items()}
    for _ in range(repeats + 1):
        for name, run in runs.items():
            print(f"  step {name}", file=sys.stderr, flush=True)
            run.step()
    out = {name: run.summary() for name, run in runs.items()}
    del runs
    gc.collect()
    return out


def profile_path(cfg, device: torch.device, repeats: int, pool_images: int) -> dict:
    """One path alone: a warm-up step and `repeats` timed steps."""
    return profile_paths({"path": cfg}, device, repeats, pool_images)["path"]


def matmul_ceiling(cfg, device: torch.device, repeats: int) -> dict:
    """What this device's bf16 can give the flow at most: one [rows x hidden] @ [hidden x hidden] product in float32
    and in bf16 (weights already bf16), and the cost of casting one weight to bf16 (autocast casts every weight
    on the way in, and every weight gradient on the way out). The bf16 step cannot beat the float32 one by more
    than the matrix products' ratio, less the casts."""
    rows, hidden = cfg.batch_size * cfg.train_transforms, cfg.flow_hidden
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(rows, hidden, generator=gen).to(device)
    w = torch.randn(hidden, hidden, generator=gen).to(device)
    a16, w16 = a.bfloat16(), w.bfloat16()

    def best(fn) -> float:
        return best_of(fn, max(5, repeats * 3), sync=lambda: _sync(device))

    fp32_s, bf16_s = best(lambda: a @ w.t()), best(lambda: a16 @ w16.t())
    cast_s = best(lambda: w.bfloat16())
    flops = 2 * rows * hidden * hidden
    return dict(shape=[rows, hidden, hidden], fp32_gflops=flops / fp32_s / 1e9, bf16_gflops=flops / bf16_s / 1e9,
                bf16_matmul_speedup=fp32_s / bf16_s, cast_ns_per_weight=cast_s / w.numel() * 1e9)


def ceiling_of(run: dict, ceiling: dict, n_params: int) -> dict:
    """The fastest step the bf16 path could take given the measured matrix-product ratio: float32-plain's forward
    and backward divided by that ratio, plus the two casts per weight, plus the fast path's optimiser step."""
    paths = run["paths"]
    if "fp32-plain" not in paths or "fast" not in paths:
        return {}
    plain = paths["fp32-plain"]["phases_s"]
    step = ((plain["forward"] + plain["backward"]) / ceiling["bf16_matmul_speedup"]
            + 2 * n_params * ceiling["cast_ns_per_weight"] * 1e-9 + paths["fast"]["phases_s"]["optimizer"])
    return dict(best_possible_fast_step_s=step, best_possible_speedup=paths["fp32-plain"]["step_s"] / step)


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
    parser.add_argument("--reuse-memory", action="store_true",
                        help="run under adnkit.training.allocator.reused_memory, as train() does")
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
        feature_cache_views=base.feature_cache_views,
        measures=("one training step of the flow on random embedding rows (rows_per_step x embedding_dim): data "
                  "gather, forward + loss, backward, optimiser; not the backbone, which a step at fresh rotations "
                  "(feature_cache_views 0) also runs"),
        flow=dict(blocks=base.flow_blocks, hidden=base.flow_hidden, hidden_layers=base.flow_hidden_layers),
        repeats=args.repeats, runs=[],
    )
    with reused_memory() if args.reuse_memory else nullcontext(False) as reused:
        result["reused_memory"] = reused
        profile_threads(args, base, paths, device, result)
    emit(result, args.out)
    return 0


def profile_threads(args, base, paths: list[str], device: torch.device, result: dict) -> None:
    """Every path at every thread count, into result["runs"]."""
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"threads={threads} ...", file=sys.stderr, flush=True)
        by_path = profile_paths({name: base.replace(**path_settings(name, device)) for name in paths}, device,
                                args.repeats, args.pool_images)
        plain = by_path["fp32-plain"]["step_s"] if "fp32-plain" in by_path else None
        for entry in by_path.values():
            entry["speedup_vs_fp32_plain"] = plain / entry["step_s"] if plain else None
        run = dict(threads=threads, paths=by_path, matmul=matmul_ceiling(base, device, args.repeats))
        n_params = next(iter(by_path.values()))["flow_parameters"]
        run.update(ceiling_of(run, run["matmul"], n_params))
        result["runs"].append(run)


if __name__ == "__main__":
    sys.exit(main())
