"""Test-time cost at a preset: where scoring one image under T rotations goes (backbone per scale vs flow).

Scoring an image is T rotated views through the backbone at every scale (448 / 224 / 112 px at the paper
preset), their 256-d means concatenated, then T rows through the flow. This times, on real-looking images
(a synthetic set) and the ImageNet backbone:
  - the backbone at each scale for a batch of views, in float32 and (on CPU) under bf16 autocast with
    channels-last input (what Config.cpu_bf16_backbone runs), with the
    largest difference bf16 makes to the embeddings (max |bf16 - fp32| / max |fp32|, and the largest
    element-wise relative difference among elements above 1 % of the maximum);
  - the flow forward for T rows, float32 and bf16 Linear layers;
and derives test images/s = 1 / (T x backbone seconds per view + flow seconds for T rows). Prints one JSON
document (and writes it with --out).

    python benchmarks/test_time.py --preset paper --threads 1 --views 8 \
        --out benchmarks/results/test-time-paper-cpu.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch
from jsonout import emit, require

from adnkit.config.settings import preset
from adnkit.data import ImageDataset, load_split
from adnkit.model import fastpath
from adnkit.model.differnet import DifferNet
from adnkit.model.views import fixed_angles, normalize, rotate_views, to_unit


def best_of(fn, repeats: int, sync=lambda: None) -> float:
    """The fastest of `repeats` calls of `fn` after one warm-up call; `sync` waits for the device (CUDA)."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--views", type=int, default=8, help="views per timed backbone batch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", default="synthetic:test-time")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = preset(args.preset, device="cpu", data=args.data, data_root=args.data_root)
    model = DifferNet(cfg, progress=False).eval()
    split = load_split(cfg)
    image = ImageDataset(split.test, cfg.image_size)[0][0][None]
    angles = fixed_angles(cfg.test_transforms)[:args.views]
    require(len(angles) > 0, f"--views {args.views} times no view")
    views = normalize(rotate_views(to_unit(image), angles))  # [views, 3, S, S]
    result = dict(benchmark="test_time", preset=args.preset, threads=args.threads, torch=torch.__version__,
                  machine=platform.machine(), cpu_native_bf16=fastpath.cpu_has_bf16(),
                  image_size=cfg.image_size, scales=cfg.scale_sizes, test_transforms=cfg.test_transforms,
                  views_timed=len(angles), weights_source=model.backbone.weights_source, backbone={})
    per_view = {"fp32": 0.0, "bf16": 0.0}
    with torch.no_grad():
        for size in cfg.scale_sizes:
            xs = views if size == cfg.image_size else torch.nn.functional.interpolate(views, size=(size, size),
                                                                                     mode="nearest")
            ref = model.backbone(xs).float().mean(dim=(2, 3))
            require(ref.shape[0] == len(angles) and bool(torch.isfinite(ref).all()),
                    f"the backbone at {size} px gave {tuple(ref.shape)} embeddings, or non-finite ones")

            def bf16_embed(xs=xs.contiguous(memory_format=torch.channels_last)):  # as cpu_bf16_backbone runs it
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return model.backbone(xs).float().mean(dim=(2, 3))

            low = bf16_embed()
            big = ref.abs() > 0.01 * ref.abs().max()
            entry = dict(
                fp32_s_per_view=best_of(lambda xs=xs: model.backbone(xs), args.repeats) / len(angles),
                bf16_s_per_view=best_of(bf16_embed, args.repeats) / len(angles),
                max_abs_diff_over_max=float((low - ref).abs().max() / ref.abs().max()),
                max_rel_diff_elementwise=float(((low - ref).abs()[big] / ref.abs()[big]).max()),
            )
            entry["bf16_speedup"] = entry["fp32_s_per_view"] / entry["bf16_s_per_view"]
            result["backbone"][str(size)] = entry
            per_view["fp32"] += entry["fp32_s_per_view"]
            per_view["bf16"] += entry["bf16_s_per_view"]
        rows = torch.randn(cfg.test_transforms, cfg.embedding_dim)
        z, _ = model.flow(rows)
        require(z.shape[0] == cfg.test_transforms and bool(torch.isfinite(z).all()), "the flow gave no finite z")
        flow = {}
        for precision in ("fp32", "bf16"):
            fastpath.set_flow_precision(model.flow, precision)
            flow[precision] = best_of(lambda: model.flow(rows), args.repeats)
    t = cfg.test_transforms
    result["flow_s_for_T_rows"] = flow
    for name, backbone, flow_s in (("fp32", per_view["fp32"], flow["fp32"]),
                                   ("bf16_flow", per_view["fp32"], flow["bf16"]),
                                   ("bf16_backbone_and_flow", per_view["bf16"], flow["bf16"])):
        per_image = t * backbone + flow_s
        result[f"test_images_per_s_{name}"] = 1.0 / per_image
        result[f"shares_{name}"] = dict(
            **{f"backbone_{s}": t * result["backbone"][str(s)]["fp32_s_per_view" if backbone == per_view["fp32"]
                                                              else "bf16_s_per_view"] / per_image
               for s in cfg.scale_sizes},
            flow=flow_s / per_image)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
