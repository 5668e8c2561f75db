"""Is fp16 safe for the backbone's passes without a gradient on GPUs without native bf16 (T4, V100)?

adnkit.model.fastpath.cuda_backbone_dtype runs them under fp16 autocast there. fp16 keeps 10 bits of mantissa
(bf16: 7) but reaches only 65504, so the risk is overflow. This measures, with the ImageNet AlexNet at the paper's
448 px and 3 scales, on real ELPV cells and a synthetic texture set (good and defective images, 2 rotations):
the largest |activation| of every AlexNet layer (float32) and the headroom below 65504; and the embedding under
fp16 and under bf16 autocast against float32 (largest relative L2 difference per view). It runs on the CPU
(autocast "cpu"), whose fp16 and bf16 products accumulate in float32 as cuDNN's do; a GPU's kernels differ in
their last bits, not in range.

    python benchmarks/fp16_headroom.py --data-root data --out benchmarks/results/fp16-headroom-cpu.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jsonout import emit, require  # noqa: E402 - benchmarks/ is on sys.path when a script runs

from adnkit.config.settings import preset  # noqa: E402
from adnkit.data import ImageDataset, load_split  # noqa: E402
from adnkit.model.differnet import DifferNet  # noqa: E402
from adnkit.model.views import fixed_angles, normalize, rotate_views, to_unit  # noqa: E402

FP16_MAX = 65504.0


def embed_under(model, views: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The multi-scale embedding with the backbone under CPU autocast in `dtype` (DifferNet.embed's steps)."""
    parts = []
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        for size in model.cfg.scale_sizes:
            xs = views if size == views.shape[-1] else F.interpolate(views, size=(size, size), mode="nearest")
            parts.append(model.backbone(xs).float().mean(dim=(2, 3)))
    return torch.cat(parts, dim=1)


def measure(spec: str, data_root: str, per_class: int, rotations: int) -> dict:
    cfg = preset("paper", data=spec, data_root=data_root, device="cpu")
    split = load_split(cfg)
    samples = split.train[:per_class] + [s for s in split.test if s.label == 1][:per_class]
    dataset = ImageDataset(samples, cfg.image_size)
    model = DifferNet(cfg, progress=False).eval()
    peaks: dict[str, float] = {}
    hooks = [layer.register_forward_hook(
        lambda _m, _i, out, k=k: peaks.__setitem__(k, max(peaks.get(k, 0.0), float(out.abs().max()))))
        for k, layer in model.backbone.features.named_children()]
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    views = normalize(rotate_views(to_unit(images), fixed_angles(rotations)))
    with torch.no_grad():
        reference = model.embed(views)
    for hook in hooks:
        hook.remove()
    result = dict(views=int(views.shape[0]), max_abs_activation=max(peaks.values()),
                  per_layer={k: round(v, 2) for k, v in peaks.items()}, fp16_headroom=FP16_MAX / max(peaks.values()))
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        emb = embed_under(model, views, dtype)
        require(bool(torch.isfinite(emb).all()), f"{spec}: the {name} embedding is not finite")
        rel = (emb - reference).norm(dim=1) / reference.norm(dim=1)
        result[f"max_rel_embedding_diff_{name}"] = float(rel.max())
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["elpv:mono", "synthetic:notebooks"])
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--per-class", type=int, default=4, help="good training and defective test images per set")
    parser.add_argument("--rotations", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    results = {spec: measure(spec, args.data_root, args.per_class, args.rotations) for spec in args.data}
    model_source = DifferNet(preset("ci", device="cpu"), progress=False).backbone.weights_source
    emit(dict(benchmark="fp16_headroom", torch=torch.__version__, weights=model_source, image_size=448, scales=3,
              results=results), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
