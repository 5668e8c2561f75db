"""One image explained by one model: `explain_image` and the `Explanation` it returns.

Maps are float32 [H, W] in [0, 1] at the size of the ORIGINAL image file (not the network's input size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from adnkit.core.errors import ConfigError
from adnkit.data.dataset import load_image
from adnkit.detection.detector import Detector
from adnkit.evaluation.threshold import decisions
from adnkit.explain.cam import cam_map, resolve_layer
from adnkit.explain.gradients import gradient_map
from adnkit.explain.methods import GRADIENT_METHOD, canonical_method, is_informative
from adnkit.explain.overlay import overlay_map, png_bytes, resize01
from adnkit.model.differnet import DifferNet
from adnkit.model.scoring import score_images
from adnkit.model.views import normalize, to_unit


@dataclass
class Explanation:
    """One image explained by one model."""

    image: np.ndarray
    """The original image, float RGB [H, W, 3] in [0, 1] (at the file's own size)."""
    map: np.ndarray
    """float32 [H, W] in [0, 1], the same size as `image`."""
    overlay: np.ndarray
    """uint8 RGB [H, W, 3]: the map on the image (pytorch_grad_cam.utils.image.show_cam_on_image)."""
    score: float
    """The model's anomaly score of the image (mean z^2 over cfg.test_transforms rotations, as scores.csv)."""
    method: str
    layer: str
    """"features[11]"-style hook point, or "input" for the gradient map."""
    threshold: float | None = None
    """The run's decision threshold, when explained with a Detector that has one."""
    path: Path | None = None
    blank: bool = False
    """True when the map came out constant (only with on_blank="warn"; the map is then zeros)."""
    extra: dict = field(default_factory=dict)

    @property
    def decision(self) -> str | None:
        """"anomalous" when score >= threshold (adnkit.evaluation.summary.decisions), "good" otherwise; None without
        one."""
        if self.threshold is None:
            return None
        return str(decisions(self.score, self.threshold))

    def overlay_png(self) -> bytes:
        return png_bytes(self.overlay)


def as_detector(run_or_model, device: str = "auto") -> Detector:
    """A Detector from a Detector, a DifferNet (no threshold) or a run folder path."""
    if isinstance(run_or_model, Detector):
        return run_or_model
    if isinstance(run_or_model, DifferNet):
        return Detector.from_model(run_or_model)
    if isinstance(run_or_model, (str, Path)):
        return Detector.load(run_or_model, device=device)
    raise TypeError(f"expected a Detector, a DifferNet or a run folder, got {type(run_or_model).__name__}")


@torch.no_grad()
def image_score(model, image_uint8: torch.Tensor) -> float:
    """The model's anomaly score of one image [3, S, S], through adnkit.model.scoring (the test rotations of the
    run's settings, as in its scores.csv)."""
    return float(score_images(model, image_uint8[None])[0])


def explain_image(run_or_model, image_path: str | Path, method: str = "gradcam", layer="last", *,
                  angle: float = 0.0, scale: int | None = None, rotations: int | None = None,
                  sigma: float = 3.0, on_blank: str = "raise", device: str = "auto") -> Explanation:
    """Explain one image file with a Detector (or a DifferNet, or a run folder path).

    method: "gradcam" (default), "gradcam++", "xgradcam", "layercam", "hirescam" (pytorch-grad-cam, target =
    the anomaly score of the view rotated by `angle`, 0 = un-rotated), or "gradients" (DifferNet's map over
    `rotations` fixed rotations, default cfg.test_transforms; `layer` is ignored).
    layer: "last" or a slot position 1, 4, 11. scale: None = all of DifferNet's scales averaged, k = one.
    on_blank: "raise" (BlankMapError) or "warn" (BlankMapWarning; the map is zeros, `.blank` is True).
    Maps are resized to the original image's size."""
    method = canonical_method(method)
    if on_blank not in ("raise", "warn"):
        raise ConfigError(f"on_blank={on_blank!r}: use 'raise' or 'warn'")
    detector = as_detector(run_or_model, device)
    model = detector.model.eval()
    threshold = detector.threshold.value if math.isfinite(detector.threshold.value) else None
    rgb, net_input = load_image(image_path, model.cfg.image_size, min_side=model.cfg.min_image_side)
    x_unit = to_unit(net_input).to(model.device)
    if method == GRADIENT_METHOD:
        raw = gradient_map(model, x_unit, rotations=rotations, sigma=sigma, on_blank=on_blank)
        layer_name = "input"
        extra = dict(rotations=int(rotations or model.cfg.test_transforms), sigma=sigma)
    else:
        position = resolve_layer(model, layer)
        view = TF.rotate(x_unit, float(angle)) if angle else x_unit
        raw = cam_map(model, normalize(view)[None], method, position, scale=scale, on_blank=on_blank)[0]
        if angle:  # back to the image's own orientation
            raw = TF.rotate(torch.from_numpy(raw)[None], -float(angle))[0].numpy()
        layer_name = f"features[{position}]"
        extra = dict(angle=float(angle), scale="all" if scale is None else int(scale))
    blank = not is_informative(raw)  # only possible with on_blank="warn" (already warned)
    final = np.zeros(rgb.shape[:2], np.float32) if blank else resize01(raw, rgb.shape[:2])
    return Explanation(image=rgb, map=final, overlay=overlay_map(rgb, final), score=image_score(model, net_input),
                       method=method, layer=layer_name, threshold=threshold, path=Path(image_path), blank=blank,
                       extra=extra)
