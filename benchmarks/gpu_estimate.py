"""How long one category takes at a preset on a GPU nobody here has: an estimate from measured FLOPs, bytes and image
decoding, with every assumption a flag.

Measured here: the backbone's FLOPs per view over the preset's scales and the flow step's FLOPs (torch's
FlopCounterMode), the flow's parameters, the GPU memory a training step needs (adnkit.model.memory), and the time
to decode and resize one MVTec-sized image (a 1024 px PNG, on this CPU, one core). Assumed (flags): the GPU's
peaks (datasheet) and the share of them AlexNet's convolutions, the flow's matrix products and Adam's memory
traffic reach, how much faster two loader workers decode than one on Colab's two virtual CPUs, the disk's write
speed for checkpoints, and start-up. The phases follow train(): training epochs (image decoding overlapped with
the GPU), the test and validation views embedded once, one flow pass over them per evaluation, a checkpoint
snapshot copied to host memory per meta epoch (written in the background; the run waits for the last write,
weights only), the final model.

    python benchmarks/gpu_estimate.py --preset gpu --gpu t4 --n-train 300 --out benchmarks/results/gpu-estimate-t4.json
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jsonout import emit  # noqa: E402 - benchmarks/ is on sys.path when a script runs

from adnkit.config.settings import preset  # noqa: E402
from adnkit.data.dataset import ImageDataset  # noqa: E402
from adnkit.data.samples import Sample  # noqa: E402
from adnkit.data.validation import validation_size  # noqa: E402
from adnkit.model import memory  # noqa: E402
from adnkit.model.differnet import DifferNet  # noqa: E402
from adnkit.model.flow import count_parameters, nll_loss  # noqa: E402

GPUS = {  # datasheet peaks: TFLOP/s float32, TFLOP/s fp16/bf16 tensor (dense), GB/s memory, GiB usable
    "t4": dict(name="NVIDIA T4", fp32=8.1, amp=65.0, bandwidth=320.0, memory_gib=15.0, native_bf16=False),
    "l4": dict(name="NVIDIA L4", fp32=30.3, amp=121.0, bandwidth=300.0, memory_gib=22.0, native_bf16=True),
}


def measured_flops(cfg) -> dict:
    """FLOPs of one view through the backbone at every scale, and of one flow step (forward + backward) on
    batch_size x train_transforms rows; the flow's parameters. On the CPU, with random weights (FLOPs do not
    depend on them)."""
    model = DifferNet(cfg.replace(pretrained="random", device="cpu"), progress=False)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.embed(torch.zeros(1, 3, cfg.image_size, cfg.image_size))
    view = counter.get_total_flops()
    rows = cfg.batch_size * cfg.train_transforms
    with FlopCounterMode(display=False) as counter:
        nll_loss(*model.flow(torch.zeros(rows, cfg.embedding_dim))).backward()
    return dict(backbone_gflop_per_view=view / 1e9, flow_step_gflop=counter.get_total_flops() / 1e9, rows=rows,
                flow_parameters=count_parameters(model.flow),
                memory_gib={k: v / 2**30 for k, v in memory.training_bytes(model, model.cfg).items()})


def decode_ms(image_size: int, side: int = 1024, repeats: int = 20) -> float:
    """Milliseconds to read a side x side PNG with MVTec-like content and size (about 2 MB) and resize it to
    image_size, as ImageDataset does for every training image of every epoch; the fastest of `repeats`."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / side
    base = np.stack([128 + 60 * np.sin(6 * xx), 128 + 60 * np.cos(5 * yy), 128 + 40 * np.sin(4 * (xx + yy))], -1)
    pixels = np.clip(base + rng.normal(0, 6, (side, side, 3)), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.png"
        Image.fromarray(pixels).save(path)
        dataset = ImageDataset([Sample(path, 0, "good", None)], image_size)
        times = []
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            dataset[0]
            times.append(time.perf_counter() - t0)
        return min(times[1:]) * 1e3  # the least disturbed of the repeats: other processes only add time


def estimate(cfg, flops: dict, gpu: dict, args, decode: float) -> dict:
    n_val = validation_size(args.n_train, cfg.val_fraction, cfg.val_min_images, cfg.batch_size)
    n_fit = args.n_train - n_val
    epochs = cfg.meta_epochs * cfg.sub_epochs
    steps = math.ceil(n_fit / cfg.batch_size)
    amp_peak = gpu["amp"] if cfg.amp else gpu["fp32"]
    conv_tflops = amp_peak * (args.amp_conv_efficiency if cfg.amp else args.fp32_efficiency)
    flow_tflops = (gpu["amp"] * args.amp_gemm_efficiency if gpu["native_bf16"] else gpu["fp32"] * args.fp32_efficiency)
    adam_s = 28 * flops["flow_parameters"] / (gpu["bandwidth"] * 1e9 * args.bandwidth_efficiency)
    fresh = cfg.feature_cache_views <= 0
    backbone_step_s = flops["rows"] * flops["backbone_gflop_per_view"] / (conv_tflops * 1e3) if fresh else 0.0
    flow_step_s = flops["flow_step_gflop"] / (flow_tflops * 1e3) + adam_s
    gpu_epoch_s = steps * (backbone_step_s + flow_step_s)
    speedup = args.loader_speedup if cfg.num_workers >= 2 else 1.0
    decode_epoch_s = n_fit * decode / 1e3 / speedup if fresh else 0.0
    # loader workers decode while the GPU computes; without workers the one process does one, then the other
    epoch_s = max(gpu_epoch_s, decode_epoch_s) if cfg.num_workers else gpu_epoch_s + decode_epoch_s
    views = (args.n_test + n_val) * cfg.test_transforms
    test_views_s = (views * flops["backbone_gflop_per_view"] / (conv_tflops * 1e3)
                    + (args.n_test + n_val) * decode / 1e3 / speedup)
    eval_s = 2 * flops["flow_parameters"] * views / (flow_tflops * 1e12)
    checkpoint_gb = 12 * flops["flow_parameters"] / 1e9  # weights and Adam's two moments, float32
    # adnkit.training.checkpoints: every meta epoch a snapshot copied to host memory; the writes run in the
    # background (every checkpoint_minutes) beside training; the run waits for the last one, without Adam's state
    weights_gb = 4 * flops["flow_parameters"] / 1e9
    phases = dict(startup_s=args.startup_s, training_s=epochs * epoch_s, test_and_val_views_s=test_views_s,
                  evaluations_s=cfg.meta_epochs * eval_s,
                  checkpoints_s=cfg.meta_epochs * checkpoint_gb / args.host_copy_gb_s
                  + weights_gb * 1e3 / args.disk_mb_s,
                  final_model_s=weights_gb * 1e3 / args.disk_mb_s)
    return dict(n_fit=n_fit, n_val=n_val, epochs=epochs, steps_per_epoch=steps,
                backbone_step_s=backbone_step_s, flow_step_s=flow_step_s, adam_s=adam_s, gpu_epoch_s=gpu_epoch_s,
                decode_epoch_s=decode_epoch_s, gpu_busy_share=gpu_epoch_s / epoch_s if epoch_s else 0.0,
                checkpoint_gb=checkpoint_gb, phases=phases, total_s=sum(phases.values()),
                total_if_images_stayed_decoded_s=sum(phases.values()) - epochs * (epoch_s - gpu_epoch_s),
                fits_memory=flops["memory_gib"]["total"] <= gpu["memory_gib"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", nargs="+", default=["gpu", "paper"])
    parser.add_argument("--gpu", choices=sorted(GPUS), default="t4")
    parser.add_argument("--n-train", type=int, nargs="+", default=[200, 300, 400],
                        help="training images of the category (a tenth of them held out for validation)")
    parser.add_argument("--n-test", type=int, default=120)
    parser.add_argument("--amp-conv-efficiency", type=float, default=0.15,
                        help="share of the fp16/bf16 tensor peak AlexNet's convolutions reach under autocast")
    parser.add_argument("--amp-gemm-efficiency", type=float, default=0.5)
    parser.add_argument("--fp32-efficiency", type=float, default=0.5, help="share of the float32 peak reached")
    parser.add_argument("--bandwidth-efficiency", type=float, default=0.7, help="share of memory bandwidth (Adam)")
    parser.add_argument("--loader-speedup", type=float, default=1.3,
                        help="decoding speed of 2 or more loader workers over one core (Colab: 2 vCPUs on 1 core)")
    parser.add_argument("--decode-ms", type=float, default=None, help="default: measured here")
    parser.add_argument("--disk-mb-s", type=float, default=150.0, help="checkpoint write speed, fsync included")
    parser.add_argument("--host-copy-gb-s", type=float, default=10.0,
                        help="GPU to host memory copy speed of the checkpoint snapshot (PCIe, pageable memory)")
    parser.add_argument("--startup-s", type=float, default=10.0, help="imports and the ImageNet weights' download")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    gpu = GPUS[args.gpu]
    result = dict(benchmark="gpu_estimate", gpu=gpu, assumptions={k: v for k, v in vars(args).items()
                                                                  if k not in ("preset", "out")}, presets={})
    for name in args.preset:
        cfg = preset(name, device="cpu")
        flops = measured_flops(cfg)
        decode = args.decode_ms if args.decode_ms is not None else decode_ms(cfg.image_size)
        result["presets"][name] = dict(measured=dict(**flops, decode_ms_per_image=decode),
                                       by_n_train={n: estimate(cfg, flops, gpu, argparse.Namespace(
                                           **{**vars(args), "n_train": n}), decode) for n in args.n_train})
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
