"""The named presets: each a table of settings over the defaults (adnkit.config.settings.preset builds one), and
`machine_preset()`, the one a machine gets when nobody names one (the notebooks, the command line).

  "paper"  DifferNet's published recipe (docs/method.md): 448 px, 3 scales, 8 GLOW blocks of width 2048,
           24 meta epochs x 8 sub epochs, batch 24 x 4 rotations, 64 test rotations. Hours, on a GPU.
  "gpu"    One lesson on a free Colab GPU (a T4): the paper's images, flow, batches, fresh rotations and test
           rotations, for 4 x 6 = 24 epochs instead of 192, images decoded by 2 loader workers. 2.3 to 4 minutes
           for an MVTec AD category of 200 to 400 training images on a T4 by an estimate from measured FLOPs,
           memory and image decoding (benchmarks/gpu_estimate.py; not yet timed on a GPU), most of it decoding
           PNGs: the GPU computes about a fifth of the time. The paper preset: 21 to 42 minutes there.
  "cpu"    A laptop in minutes: 256 px at 2 scales, a narrower flow, fewer epochs and rotations.
  "demo"   `adnkit demo`'s three runs in about five minutes on two cores: the cpu preset at 128 px (5 min 10 s
           on a 2-core AMD EPYC; 160 px took 7 min 27 s; docs/benchmarks.md "The demo").
  "ci"     Seconds: tiny images and a tiny flow, for tests and notebook validation.

Every preset computes on the device `auto` finds (a CUDA GPU, else Apple's MPS where it runs adnkit, else the
CPU); `device=...` (`--device`) forces one.
"""

from __future__ import annotations

import torch

from adnkit.core.device import total_memory_bytes

PRESETS: dict[str, dict] = {
    "paper": {},
    "gpu": dict(meta_epochs=4, sub_epochs=6, num_workers=2),
    "cpu": dict(
        image_size=256, scales=2, flow_blocks=8, flow_hidden=512, flow_hidden_layers=2,
        meta_epochs=4, sub_epochs=4, batch_size=24, train_transforms=4, test_transforms=4,
        feature_cache_views=16,
    ),
    "demo": dict(
        image_size=128, scales=2, flow_blocks=8, flow_hidden=512, flow_hidden_layers=2,
        meta_epochs=4, sub_epochs=4, batch_size=24, train_transforms=4, test_transforms=4,
        feature_cache_views=16,
    ),
    "ci": dict(
        image_size=128, scales=2, flow_blocks=2, flow_hidden=64, flow_hidden_layers=1,
        meta_epochs=2, sub_epochs=2, batch_size=8, train_transforms=2, test_transforms=2,
        feature_cache_views=4,
    ),
}

GPU_PRESET_MIN_MEMORY = 6 * 2**30
"""A CUDA GPU gets the gpu preset from 6 GiB of memory: adnkit.model.memory estimates that it needs 4.2 GiB
(tests/test_device.py keeps the two in step); smaller GPUs get the cpu preset, still computed on the GPU."""


def machine_preset() -> str:
    """The preset for this machine: "gpu" where a CUDA GPU with enough memory is visible, else "cpu".
    The notebooks (unless ADNKIT_PRESET names one) and the command line's default use it."""
    if torch.cuda.is_available() and total_memory_bytes(torch.device("cuda")) >= GPU_PRESET_MIN_MEMORY:
        return "gpu"
    return "cpu"
