"""The GPU check of issue 14, in one process: CUDA tests, paper-preset step and scoring timings, one short run.

  (a) the test suite's CUDA-marked tests (`pytest -m cuda`);
  (b) a paper-preset training step (benchmarks/profile_step.py's paths: fp32-plain, fast, fast-compiled) and a
      scoring pass (T = 64 rotations of a batch of test images through backbone and flow) with and without
      bf16 autocast / channels-last for the backbone and bf16 / compile for the flow;
  (c) one paper-preset training run on a synthetic set for 1 meta epoch (8 sub epochs);
and writes everything as one JSON document. benchmarks/gpu_check.sh calls it; sized for under 8 minutes on
one modern GPU. Without a GPU (or with --cpu-smoke) it runs the same code on the CPU at a tiny size (ci
preset flow, few images), so that the script itself is tested where no GPU is.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu-check.json
    python benchmarks/gpu_check.py --cpu-smoke --out /tmp/gpu-check-smoke.json
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jsonout import emit, finite, require  # noqa: E402 - benchmarks/ is on sys.path when a script runs
from profile_step import path_settings, profile_path  # noqa: E402  (benchmarks/ is not a package)

from adnkit.config.settings import preset  # noqa: E402
from adnkit.model.differnet import DifferNet  # noqa: E402
from adnkit.model.views import fixed_angles, normalize, rotate_views  # noqa: E402
from adnkit.training.trainer import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def cuda_tests(smoke: bool) -> dict:
    """Run `pytest -m cuda` (skipped tests count as such: without a GPU they all skip)."""
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests"]
    if smoke:  # the smoke run only checks that the marker selects tests (they skip without a GPU), in one file
        cmd[-1:] = ["tests/test_fast_path.py", "--co"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "ADNKIT_PRESET": "ci"})
    tail = done.stdout.strip().splitlines()[-1:] or [""]
    return dict(command=" ".join(cmd[1:]), returncode=done.returncode, summary=tail[0],
                seconds=time.perf_counter() - t0)


def step_timings(base, device: torch.device, repeats: int, compile_flow: bool) -> dict:
    paths = ["fp32-plain", "fast"] + (["fast-compiled"] if compile_flow else [])
    out = {}
    for name in paths:
        try:
            out[name] = profile_path(base.replace(**path_settings(name, device)), device, repeats, pool_images=64)
        except Exception as err:  # a failing path is a result, not the end of the check
            out[name] = dict(error=f"{type(err).__name__}: {err}")
    plain = out["fp32-plain"].get("step_s")
    for entry in out.values():
        if plain and "step_s" in entry:
            entry["speedup_vs_fp32_plain"] = plain / entry["step_s"]
    return out


def scoring_timings(base, device: torch.device, n_images: int, repeats: int, compile_flow: bool) -> dict:
    """Seconds to score `n_images` images under T = test_transforms rotations (one batch of views), per variant."""
    variants = [
        ("fp32", dict(amp=False, channels_last=False, flow_precision="fp32")),
        ("bf16-backbone", dict(amp=True, channels_last=False, flow_precision="fp32")),
        ("bf16-channels-last", dict(amp=True, channels_last=True, flow_precision="fp32")),
        ("all-bf16-channels-last", dict(amp=True, channels_last=True, flow_precision="bf16")),
    ]
    if compile_flow:
        variants.append(("all-bf16-channels-last-compiled", dict(amp=True, channels_last=True,
                                                                  flow_precision="bf16", compile_flow="on")))
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_images, 3, base.image_size, base.image_size), dtype=torch.uint8, generator=gen)
    angles = fixed_angles(base.test_transforms)
    out, reference = {}, None
    for name, settings in variants:
        cfg = base.replace(**settings)
        try:
            model = DifferNet(cfg, progress=False).to(device).eval()
            if device.type == "cuda" and cfg.channels_last:
                model.backbone.to(memory_format=torch.channels_last)
            if cfg.compile_flow == "on":
                from adnkit.model.fastpath import CompiledFlow
                model.set_flow_fn(CompiledFlow(model.flow))
            times = []
            with torch.no_grad():
                for _ in range(repeats + 1):
                    _sync(device)
                    t0 = time.perf_counter()
                    views = normalize(rotate_views(images.to(device).float() / 255.0, angles))
                    emb = model.embed(views)
                    z, _ = model.flow_forward(emb)
                    scores = model.view_scores(z).view(n_images, len(angles)).mean(dim=1).cpu()
                    _sync(device)
                    times.append(time.perf_counter() - t0)
            require(scores.numel() == n_images and bool(torch.isfinite(scores).all()),
                    f"scoring {name}: {scores.numel()} of {n_images} images got a finite score")
            entry = dict(first_s=times[0], best_s=min(times[1:]), images_per_s=n_images / min(times[1:]))
            if reference is None:
                reference = scores
            else:
                entry["max_rel_score_diff_vs_fp32"] = float(((scores - reference).abs() / reference.abs()).max())
            out[name] = entry
            del model
        except Exception as err:
            out[name] = dict(error=f"{type(err).__name__}: {err}")
    return out


def short_run(base, data_root: str, max_train_images: int) -> dict:
    cfg = base.replace(data="synthetic:gpu-check", data_root=data_root, meta_epochs=1,
                       max_train_images=max_train_images)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        metrics = train(cfg, Path(tmp) / "run", progress=False)
        metrics["wall_s"] = time.perf_counter() - t0
    require(metrics["n_train"] > 0 and metrics["n_test"] > 0 and finite(metrics["auroc_last"]),
            f"the short run trained on {metrics['n_train']} and scored {metrics['n_test']} images "
            f"(AUROC {metrics['auroc_last']})")
    return metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="force the tiny CPU run (automatic without a GPU)")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--out", default="benchmarks/results/gpu-check.json")
    args = parser.parse_args(argv)
    smoke = args.cpu_smoke or not torch.cuda.is_available()
    device = torch.device("cpu" if smoke else "cuda")
    t_start = time.perf_counter()
    if smoke:  # the same code at a tiny size: the ci flow, small images, few rotations
        base = preset("ci", device="cpu", pretrained="random", test_transforms=4)
        sizes = dict(repeats=1, n_images=2, max_train_images=8)
        compile_flow = False  # tens of seconds of compile time on a CPU for nothing learned here
    else:
        base = preset("paper", device="cuda")
        sizes = dict(repeats=5, n_images=8, max_train_images=0)
        compile_flow = not args.no_compile
    result = dict(
        benchmark="gpu_check", mode="cpu-smoke" if smoke else "gpu", device=str(device),
        gpu=torch.cuda.get_device_name() if not smoke else None, torch=torch.__version__,
        cuda=torch.version.cuda, machine=platform.machine(), preset="ci" if smoke else "paper",
    )
    result["cuda_tests"] = cuda_tests(smoke)
    result["train_step"] = step_timings(base, device, sizes["repeats"], compile_flow)
    result["scoring"] = scoring_timings(base, device, sizes["n_images"], sizes["repeats"], compile_flow)
    result["short_run"] = short_run(base.replace(pretrained="imagenet") if not smoke else base,
                                    args.data_root, sizes["max_train_images"])
    if device.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result["total_s"] = time.perf_counter() - t_start
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
