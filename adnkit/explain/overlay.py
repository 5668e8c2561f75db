"""Maps as pictures: resizing a map to the image, the JET overlay, PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from adnkit.explain.methods import import_grad_cam


def resize01(m: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a map to (H, W) and min-max to [0, 1] (a constant map becomes zeros)."""
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    if tuple(t.shape[-2:]) != tuple(size_hw):
        t = F.interpolate(t, size=tuple(size_hw), mode="bilinear", align_corners=False)
    out = t[0, 0].numpy().astype(np.float32)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)


def overlay_map(rgb: np.ndarray, m: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """uint8 RGB overlay of a [0, 1] map on a float RGB image in [0, 1] (pytorch-grad-cam's JET overlay)."""
    import_grad_cam()  # a one-line error naming the `explain` extra when it is missing
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(np.clip(rgb, 0, 1).astype(np.float32), m.astype(np.float32), use_rgb=True,
                             image_weight=image_weight)


def png_bytes(rgb: np.ndarray) -> bytes:
    """uint8 RGB [H, W, 3] -> PNG file bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, format="PNG")
    return buf.getvalue()
