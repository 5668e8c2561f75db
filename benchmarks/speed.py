"""Training and scoring speed and memory of adnkit's pipeline against a plain loop like the original code.

End to end, from image files to scores, on the same images and settings:
  adnkit  decode + resize once per image; rotations on tensors; frozen backbone without autograd; embeddings
          of a pool of training views and of the fixed test views computed once; the flow step's fast path
          at its automatic settings (adnkit.model.fastpath; recorded as adnkit_fast_path)
          (adnkit.training.trainer.train).
  plain   what the original DifferNet code does: every step decodes each image and runs PIL transforms per view
          (Resize -> RandomRotation(180) -> ToTensor -> Normalize), and recomputes AlexNet's features with
          autograd tracking (backbone parameters requiring grad, as in the original, though never optimised);
          scoring runs the T views of each test image through the whole network.
Also: the backbone's achieved GFLOP/s while embedding, against a float32 matrix-multiply peak measured in the
same process. Prints one JSON document (and writes it with --out).

    python benchmarks/speed.py --preset cpu --variants none se cbam --n-train 48 --n-test 24
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from jsonout import emit, finite, require
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from adnkit.config.settings import preset
from adnkit.core.device import peak_rss_mb, resolve_device
from adnkit.data import load_split
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import nll_loss
from adnkit.model.views import IMAGENET_MEAN, IMAGENET_STD
from adnkit.training.trainer import train


def matmul_peak_gflops(device: torch.device, n: int = 4096, repeats: int = 5, trials: int = 3) -> float:
    """Best of `trials` timings of a square float32 matrix multiply (bf16 on CUDA is reported separately)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = 0.0
    for _ in range(trials):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        _sync(device)
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def backbone_flops_per_view(model: DifferNet) -> int:
    """FLOPs of the multi-scale embedding of one view (all scales), counted by torch's FlopCounterMode."""
    x = torch.zeros(1, 3, model.cfg.image_size, model.cfg.image_size, device=model.device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.embed(x)
    return counter.get_total_flops()


def plain_transform(cfg, train: bool):
    steps = [transforms.Resize((cfg.image_size, cfg.image_size))]
    if train:
        steps.append(transforms.RandomRotation(180))
    steps += [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return transforms.Compose(steps)


def plain_train_epoch(model: DifferNet, paths: list[Path], cfg, device) -> float:
    """One epoch the original way; returns seconds."""
    for p in model.backbone.features.parameters():
        p.requires_grad_(True)  # the original leaves AlexNet's parameters requiring grad (not optimised)
    optimizer = torch.optim.Adam(model.flow.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)
    tf = plain_transform(cfg, train=True)
    model.train()
    t0 = time.perf_counter()
    for start in range(0, len(paths), cfg.batch_size):
        batch = []
        for path in paths[start:start + cfg.batch_size]:
            for _ in range(cfg.train_transforms):
                with Image.open(path) as img:
                    batch.append(tf(img.convert("RGB")))
        z, log_jac_det = model(torch.stack(batch).to(device))
        loss = nll_loss(z, log_jac_det)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _sync(device)
    seconds = time.perf_counter() - t0
    model.backbone.freeze_convolutions()
    return seconds


@torch.no_grad()
def plain_test(model: DifferNet, paths: list[Path], cfg, device) -> float:
    """Score every test image the original way (a fresh transform per view); returns seconds."""
    resize = transforms.Resize((cfg.image_size, cfg.image_size))
    post = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    angles = [k * 360.0 / cfg.test_transforms for k in range(cfg.test_transforms)]
    model.eval()
    t0 = time.perf_counter()
    scores = []
    for path in paths:
        views = []
        for a in angles:
            with Image.open(path) as img:
                views.append(post(resize(img.convert("RGB")).rotate(a)))
        z, _ = model(torch.stack(views).to(device))
        scores.append(float(model.view_scores(z).mean()))
    _sync(device)
    seconds = time.perf_counter() - t0
    require(len(scores) == len(paths) > 0 and all(finite(v) for v in scores),
            f"the plain loop scored {len(scores)} of {len(paths)} test images, or gave non-finite scores")
    return seconds


def measure(variant: str, preset_name: str, data_spec: str, data_root: str, n_train: int, device: str) -> dict:
    cfg = preset(preset_name, data=data_spec, data_root=data_root, attention=variant, max_train_images=n_train,
                 device=device)
    dev = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(cfg, Path(tmp) / "run", progress=False)
    split = load_split(cfg)
    require(metrics["n_test"] == len(split.test) > 0 and finite(metrics["auroc_last"]),
            f"adnkit scored {metrics['n_test']} of {len(split.test)} test images (AUROC {metrics['auroc_last']})")
    model = DifferNet(cfg, progress=False).to(dev)
    train_paths = [s.path for s in split.train]
    test_paths = [s.path for s in split.test]
    plain_train_s = plain_train_epoch(model, train_paths, cfg, dev)
    plain_test_s = plain_test(model, test_paths, cfg, dev)
    flops = backbone_flops_per_view(model)
    # achieved backbone rate: time a batch of views through the embedding alone
    x = torch.randn(96, 3, cfg.image_size, cfg.image_size, device=dev)
    with torch.no_grad():
        model.embed(x)
        _sync(dev)
        t0 = time.perf_counter()
        model.embed(x)
        _sync(dev)
    embed_s = time.perf_counter() - t0
    plain_train_ips = len(train_paths) / plain_train_s
    plain_test_ips = len(test_paths) / plain_test_s
    return dict(
        variant=variant,
        n_train=len(train_paths), n_test=len(test_paths),
        epochs=cfg.meta_epochs * cfg.sub_epochs,
        adnkit_train_images_per_s=metrics["train_images_per_s"],
        adnkit_test_images_per_s=metrics["test_images_per_s"],
        adnkit_feature_cache=metrics["feature_cache"],
        # Adam impl / flow precision / compile as resolved (adnkit.model.fastpath)
        adnkit_fast_path=metrics["fast_path"],
        plain_train_images_per_s=plain_train_ips,
        plain_test_images_per_s=plain_test_ips,
        train_speedup=metrics["train_images_per_s"] / plain_train_ips,
        test_speedup=metrics["test_images_per_s"] / plain_test_ips,
        auroc_last=metrics["auroc_last"],
        backbone_gflop_per_view=flops / 1e9,
        backbone_achieved_gflops=flops * 96 / embed_s / 1e9,
        peak_rss_mb=peak_rss_mb(),
        cuda_peak_mb=torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else 0.0,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--variants", nargs="+", default=["none", "se", "cbam"])
    parser.add_argument("--data", default="synthetic:bench-texture", help="dataset spec (default: a synthetic set)")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--n-train", type=int, default=48, help="training images used (0 = all)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    result = dict(
        benchmark="speed", preset=args.preset, data=args.data, device=str(device),
        torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.machine(),
        gpu=torch.cuda.get_device_name() if device.type == "cuda" else None,
        matmul_peak_gflops=matmul_peak_gflops(device),
        runs=[measure(v, args.preset, args.data, args.data_root, args.n_train, args.device) for v in args.variants],
    )
    for run in result["runs"]:
        run["backbone_share_of_matmul_peak"] = run["backbone_achieved_gflops"] / result["matmul_peak_gflops"]
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
