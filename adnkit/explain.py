"""Where does the detector look? Grad-CAM (pytorch-grad-cam) and DifferNet's own gradient maps.

Two kinds of map, both of the anomaly score, both returned as float numpy [H, W] in [0, 1] at the size of the
ORIGINAL image file (not the network's input size):

- Class-activation maps (`method` = "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"; see
  `cam_methods()`), computed by pytorch-grad-cam. The model is wrapped in `ScoreModel`, a small module that
  takes a normalised image batch and returns ONE tensor, the flow output z; the target of each image is
  `lambda z: (z ** 2).mean()`, i.e. the anomaly score of that (un-rotated by default) view. The hooked layer
  is a backbone "tap" (`model.backbone.tap(position)`): position 1, 4 or 11 (after conv1, conv2, conv5 and the
  attention block there, if any); "last" (default) = after the last attention block, as in the
  AttentDifferNet paper. DifferNet embeds the image at several scales through the same backbone, so the tap
  fires once per scale: each scale gets its own hook point here, and the maps of all scales are averaged by
  pytorch-grad-cam (`scale=k` keeps one scale, 0 = full resolution).

- DifferNet's gradient map (`method="gradients"`, REFERENCE.md "Localisation"): the gradient of
  0.5 * ||z||^2 of each of R fixed rotations k * 360 / R (default cfg.test_transforms) w.r.t. that rotated
  (normalised) input view, rotated back, Gaussian-blurred (sigma 3 px at the network's resolution),
  |.| averaged over the rotations, squared, averaged over the colour channels.

The frozen-backbone pitfall: DifferNet runs its backbone without autograd (nothing in it trains), so the
hooked activations carry no gradient and pytorch-grad-cam produces no map (version 1.5.7 fails deep inside
with an AttributeError; older versions and hand-written Grad-CAMs return an all-zero map without a word).
`DifferNet.embed` turns autograd on when the input requires grad, so the input here always does; and every
map is checked: no gradient at the layer, or a constant / non-finite map, is a `BlankMapError`
(or, with `on_blank="warn"`, a loud `BlankMapWarning`) instead of a silently blank picture.

A number for the papers' qualitative claim ("the maps sit on the object / the defect"):
`mask_agreement(map, mask)` (pixel AUROC of the map against the ground-truth mask, and the share of the map's
mass inside the mask; chance level for the latter is the mask's area fraction) and `localization_table(...)`,
per variant mean +- std over defective images with masks.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn
from torchvision.transforms.v2 import functional as TF

from adnkit.errors import AdnkitError, ConfigError, DataError
from adnkit.metrics import decisions
from adnkit.score import load_run
from adnkit.scoring import score_images
from adnkit.views import fixed_angles, normalize, rotate_views, to_unit

GRADIENT_METHOD = "gradients"
_CAM_CLASS_NAMES = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
}
_METHOD_ALIASES = {"grad-cam": "gradcam", "gradcampp": "gradcam++", "gradcamplusplus": "gradcam++",
                   "grad-cam++": "gradcam++", "gradient": "gradients", "differnet": "gradients",
                   "x-gradcam": "xgradcam", "layer-cam": "layercam"}
METHODS = (*_CAM_CLASS_NAMES, GRADIENT_METHOD)
"""Every method name explain_image accepts."""


class BlankMapError(AdnkitError):
    """A map came out blank (no gradient reached the layer, or constant / non-finite values)."""


class BlankMapWarning(UserWarning):
    """A map came out constant; it is returned as zeros (on_blank="warn")."""


def cam_methods() -> dict[str, type]:
    """name -> pytorch-grad-cam class (imported on first use: the package pulls matplotlib and scipy)."""
    import pytorch_grad_cam

    return {name: getattr(pytorch_grad_cam, cls) for name, cls in _CAM_CLASS_NAMES.items()}


def __getattr__(name: str):  # CAM_METHODS without importing pytorch-grad-cam at `import adnkit.explain`
    if name == "CAM_METHODS":
        return cam_methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def canonical_method(method: str) -> str:
    """Normalise a method name ("GradCAM++" -> "gradcam++"); ConfigError for unknown ones."""
    key = str(method).strip().lower().replace("_", "")
    key = _METHOD_ALIASES.get(key, key)
    if key not in METHODS:
        raise ConfigError(f"explanation method {method!r} is unknown; use one of: {', '.join(METHODS)}")
    return key


# --------------------------------------------------------------------------------------------------------------
# The model as pytorch-grad-cam wants it
# --------------------------------------------------------------------------------------------------------------
class ScoreModel(nn.Module):
    """Normalised images [B, 3, S, S] -> z [B, D], the flow output of the embedding (one tensor, no log-det).

    The target `lambda z: (z ** 2).mean()` of one row is that view's anomaly score."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.model(x)
        return z


def score_target(z: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam target on one image's model output: the anomaly score mean(z^2)."""
    return (z**2).mean()


class _ScaleTaps(contextlib.AbstractContextManager):
    """While active, the backbone tap's output at the k-th call of a forward pass goes through `taps[k]`, a
    distinct identity module per scale, so that each scale has its own hook point for pytorch-grad-cam (the
    shared tap fires once per scale). `reset()` before each forward pass (ScoreModel does it via a pre-hook)."""

    def __init__(self, tap: nn.Module, n_scales: int):
        self.tap = tap
        self.taps = nn.ModuleList([nn.Identity() for _ in range(n_scales)])
        self.calls = 0
        self._handle = None

    def reset(self, *_):
        self.calls = 0

    def _hook(self, module, inputs, output):
        k = self.calls
        self.calls += 1
        # float32 at the hook point: under CUDA autocast (cfg.amp) the activations are bfloat16, which
        # pytorch-grad-cam's numpy conversion cannot take; the cast is differentiable.
        return self.taps[k](output.float()) if k < len(self.taps) else output

    def __enter__(self):
        self._handle = self.tap.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        return False


def resolve_layer(model, layer="last") -> int:
    """A slot position of the backbone: "last"/None -> the last slot, else 1, 4, 11 (int or digits)."""
    positions = list(model.backbone.positions)
    if layer is None or (isinstance(layer, str) and layer.strip().lower() in ("last", "")):
        return positions[-1]
    try:
        pos = int(layer)
    except (TypeError, ValueError):
        raise ConfigError(f"layer {layer!r}: use 'last' or a slot position among {positions}") from None
    if pos not in positions:
        raise ConfigError(f"layer {layer!r}: the backbone has hook points after features{positions}; "
                          f"use one of {positions} or 'last'")
    return pos


def is_informative(m: np.ndarray) -> bool:
    """False for an empty, non-finite or constant map (a blank picture)."""
    m = np.asarray(m)
    if not m.size or not np.isfinite(m).all():
        return False
    return float(m.max() - m.min()) > 1e-12 * max(1.0, float(np.abs(m).max()))


def _check_map(raw: np.ndarray, what: str, on_blank: str, hint: str = "") -> bool:
    """True if `raw` is an informative map; else raise BlankMapError or warn (on_blank="warn") and False."""
    raw = np.asarray(raw)
    if is_informative(raw):
        return True
    if raw.size and np.isfinite(raw).all():
        problem = f"{what} is constant ({float(raw.flat[0]):.3g} everywhere)"
    else:
        problem = f"{what} has non-finite values"
    message = f"{problem}{'; ' + hint if hint else ''}"
    if on_blank == "warn":
        warnings.warn(f"BLANK MAP: {message}", BlankMapWarning, stacklevel=3)
        return False
    raise BlankMapError(message)


def cam_map(model, x: torch.Tensor, method: str = "gradcam", layer="last", scale: int | None = None,
            input_requires_grad: bool = True, on_blank: str = "raise") -> np.ndarray:
    """Raw CAM of normalised images x [B, 3, S, S] -> float32 [B, S, S] in [0, 1] (network resolution).

    input_requires_grad=False reproduces the frozen-backbone pitfall (no gradient reaches the layer): it
    raises BlankMapError (never returns a silently blank map); leave it True."""
    method = canonical_method(method)
    if method == GRADIENT_METHOD:
        raise ConfigError("cam_map computes class-activation maps; use gradient_map for method 'gradients'")
    position = resolve_layer(model, layer)
    n_scales = len(model.cfg.scale_sizes)
    if scale is not None and not 0 <= int(scale) < n_scales:
        raise ConfigError(f"scale={scale}: the model has scales 0..{n_scales - 1} ({model.cfg.scale_sizes} px)")
    x = x.detach().to(model.device)
    if input_requires_grad:
        x = x.clone().requires_grad_(True)
    wrapper = ScoreModel(model)
    where = f"{method} at features[{position}]"
    with _ScaleTaps(model.backbone.tap(position), n_scales) as scale_taps:
        pre = wrapper.register_forward_pre_hook(scale_taps.reset)
        layers = list(scale_taps.taps) if scale is None else [scale_taps.taps[int(scale)]]
        cam = cam_methods()[method](model=wrapper, target_layers=layers)
        try:
            grads_of = cam.activations_and_grads
            with torch.enable_grad():
                try:
                    maps = cam(input_tensor=x, targets=[score_target] * x.shape[0])
                except (AttributeError, TypeError, IndexError, ValueError) as err:
                    if not grads_of.gradients:  # the pitfall: pytorch-grad-cam 1.5.x fails on missing grads
                        maps = None
                    else:
                        raise RuntimeError(f"{where}: pytorch-grad-cam failed ({err})") from err
            if not grads_of.gradients or len(grads_of.gradients) < len(layers):
                raise BlankMapError(
                    f"{where}: no gradient reached the layer, the map would be blank. The backbone is frozen "
                    "(no autograd through it); make the input require grad (input_requires_grad=True)")
            acts = [tuple(a.shape) for a in grads_of.activations]
            grads = [tuple(g.shape) for g in grads_of.gradients]
            if acts != grads:  # gradients are collected in backward order; scales differ in size
                raise RuntimeError(f"{where}: activation/gradient shapes do not pair up ({acts} vs {grads})")
        finally:
            cam.activations_and_grads.release()
            pre.remove()
    # pytorch-grad-cam min-max scales each map; a blank one is all zeros.
    for i, m in enumerate(maps):
        _check_map(m, f"{where} (image {i})", on_blank,
                   "every channel weight pushed the map below 0 (ReLU); try method='layercam' or 'gradients'")
    return np.asarray(maps, dtype=np.float32)


def gradient_map(model, x_unit: torch.Tensor, rotations: int | None = None, sigma: float = 3.0,
                 channels: str = "mean", batch: int = 16, on_blank: str = "raise") -> np.ndarray:
    """DifferNet's localisation of ONE image x_unit [3, S, S] (or [1, 3, S, S]) in [0, 1] -> float32 [S, S],
    not normalised: mean over channels of (mean over rotations of |blur(rotate_back(grad))|)^2.

    Each of the R views k * 360 / R (default cfg.test_transforms) is its own leaf; the gradient of its
    0.5 * ||z||^2 w.r.t. it (normalised input) is rotated back by -angle and blurred (sigma px)."""
    if x_unit.dim() == 4:
        if x_unit.shape[0] != 1:
            raise ValueError("gradient_map explains one image at a time")
        x_unit = x_unit[0]
    angles = fixed_angles(int(rotations or model.cfg.test_transforms))
    kernel = 2 * math.ceil(3 * sigma) + 1
    x_unit = to_unit(x_unit.detach()).to(model.device)
    total = None
    for start in range(0, len(angles), batch):
        chunk = angles[start:start + batch]
        views = normalize(rotate_views(x_unit[None], chunk)).detach().requires_grad_(True)
        with torch.enable_grad():
            z, _ = model(views)
            loss = 0.5 * (z.float() ** 2).sum()  # the views are independent: sum = per-view gradients
            (grad,) = torch.autograd.grad(loss, views)
        back = torch.stack([TF.rotate(g, -float(a)) for g, a in zip(grad, chunk)])
        if sigma > 0:
            back = TF.gaussian_blur(back, [kernel, kernel], [float(sigma), float(sigma)])
        part = back.abs().sum(dim=0)
        total = part if total is None else total + part
    avg = (total / len(angles)) ** 2  # [3, S, S]
    result = (avg.sum(dim=0) if channels == "sum" else avg.mean(dim=0)).detach().cpu().numpy().astype(np.float32)
    _check_map(result, f"gradient map ({len(angles)} rotations)", on_blank,
               "no gradient reached the input; the input view must require grad")
    return result


# --------------------------------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------------------------------
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
    """The run's decision threshold, when explained with a TrainedRun."""
    path: Path | None = None
    blank: bool = False
    """True when the map came out constant (only with on_blank="warn"; the map is then zeros)."""
    extra: dict = field(default_factory=dict)

    @property
    def decision(self) -> str | None:
        """"anomalous" when score >= threshold (adnkit.metrics.decisions), "good" otherwise; None without one."""
        if self.threshold is None:
            return None
        return str(decisions(self.score, self.threshold))

    def overlay_png(self) -> bytes:
        return png_bytes(self.overlay)


def png_bytes(rgb: np.ndarray) -> bytes:
    """uint8 RGB [H, W, 3] -> PNG file bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _unpack(run_or_model, device: str = "auto"):
    """(model, threshold or None, name) from a TrainedRun, a DifferNet or a run folder path."""
    from adnkit.model import DifferNet

    if isinstance(run_or_model, DifferNet):
        return run_or_model, None, run_or_model.cfg.attention
    if isinstance(run_or_model, (str, Path)):
        run_or_model = load_run(run_or_model, device=device)
    model = getattr(run_or_model, "model", None)
    if not isinstance(model, DifferNet):
        raise TypeError(f"expected a TrainedRun, a DifferNet or a run folder, got {type(run_or_model).__name__}")
    return model, float(run_or_model.threshold), Path(run_or_model.run_dir).name


def load_image(path: str | Path, image_size: int) -> tuple[np.ndarray, torch.Tensor]:
    """(original float RGB [H, W, 3] in [0, 1], network input uint8 [3, S, S]) of an image file.

    The network input comes from adnkit.data.ImageDataset, the same pipeline as training and scores.csv."""
    from adnkit.data import ImageDataset, Sample, read_image

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found; check the path")
    rgb = np.asarray(read_image(path), dtype=np.float32) / 255.0
    item = ImageDataset([Sample(path, -1, "unknown", None)], image_size)[0]
    tensor = item[0] if isinstance(item, (tuple, list)) else item
    return rgb, torch.as_tensor(tensor)


def _resize01(m: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a map to (H, W) and min-max to [0, 1] (a constant map becomes zeros)."""
    t = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))[None, None]
    if tuple(t.shape[-2:]) != tuple(size_hw):
        t = F.interpolate(t, size=tuple(size_hw), mode="bilinear", align_corners=False)
    out = t[0, 0].numpy().astype(np.float32)
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)


def overlay_map(rgb: np.ndarray, m: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """uint8 RGB overlay of a [0, 1] map on a float RGB image in [0, 1] (pytorch-grad-cam's JET overlay)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(np.clip(rgb, 0, 1).astype(np.float32), m.astype(np.float32), use_rgb=True,
                             image_weight=image_weight)


@torch.no_grad()
def image_score(model, image_uint8: torch.Tensor) -> float:
    """The model's anomaly score of one image [3, S, S] (cfg.test_transforms fixed rotations)."""
    return float(score_images(model, image_uint8[None])[0])


def explain_image(run_or_model, image_path: str | Path, method: str = "gradcam", layer="last", *,
                  angle: float = 0.0, scale: int | None = None, rotations: int | None = None,
                  sigma: float = 3.0, on_blank: str = "raise", device: str = "auto") -> Explanation:
    """Explain one image file with a TrainedRun (or DifferNet, or run folder path).

    method: "gradcam" (default), "gradcam++", "xgradcam", "layercam", "hirescam" (pytorch-grad-cam, target =
    the anomaly score of the view rotated by `angle`, 0 = un-rotated), or "gradients" (DifferNet's map over
    `rotations` fixed rotations, default cfg.test_transforms; `layer` is ignored).
    layer: "last" or a slot position 1, 4, 11. scale: None = all of DifferNet's scales averaged, k = one.
    on_blank: "raise" (BlankMapError) or "warn" (BlankMapWarning; the map is zeros, `.blank` is True).
    Maps are resized to the original image's size."""
    method = canonical_method(method)
    if on_blank not in ("raise", "warn"):
        raise ConfigError(f"on_blank={on_blank!r}: use 'raise' or 'warn'")
    model, threshold, _ = _unpack(run_or_model, device)
    model.eval()
    rgb, net_input = load_image(image_path, model.cfg.image_size)
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
    final = np.zeros(rgb.shape[:2], np.float32) if blank else _resize01(raw, rgb.shape[:2])
    return Explanation(image=rgb, map=final, overlay=overlay_map(rgb, final), score=image_score(model, net_input),
                       method=method, layer=layer_name, threshold=threshold, path=Path(image_path), blank=blank,
                       extra=extra)


# --------------------------------------------------------------------------------------------------------------
# Several variants side by side
# --------------------------------------------------------------------------------------------------------------
def _title(name: str, ex: Explanation) -> str:
    text = f"{name}: score {ex.score:.4g}"
    if ex.threshold is not None:
        text += f" ({ex.decision}, thr {ex.threshold:.4g})"
    return text


def compare(runs: Mapping[str, object], image_path: str | Path, method: str = "gradcam", layer="last",
            explanations: Mapping[str, Explanation] | None = None, **options):
    """plotly Figure: the image, then its overlay under each variant (name -> TrainedRun), scores in titles.

    `explanations` (name -> Explanation) reuses maps already computed; options go to explain_image."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not runs and not explanations:
        raise ConfigError("compare: give at least one run (name -> TrainedRun)")
    found = dict(explanations or {})
    for name, run in runs.items():
        if name not in found:
            found[name] = explain_image(run, image_path, method, layer, **options)
    first = next(iter(found.values()))
    titles = ["original"] + [_title(n, e) for n, e in found.items()]
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.02)
    fig.add_trace(go.Image(z=np.rint(first.image * 255).astype(np.uint8), name="original"), row=1, col=1)
    for col, (name, ex) in enumerate(found.items(), start=2):
        fig.add_trace(go.Image(z=ex.overlay, name=name), row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    canonical = canonical_method(method)
    where = first.layer
    fig.update_layout(title=f"{Path(image_path).name}: {canonical} at {where}", template="plotly_white",
                      height=360, width=max(480, 300 * len(titles)), margin=dict(l=10, r=10, t=80, b=10))
    fig.update_annotations(font_size=11)
    return fig


# --------------------------------------------------------------------------------------------------------------
# Agreement with ground-truth masks
# --------------------------------------------------------------------------------------------------------------
def mask_agreement(map_: np.ndarray, mask: np.ndarray) -> dict:
    """How well a map points at a ground-truth defect mask (same [H, W] shape).

    pixel_auroc: sklearn roc_auc_score(mask.ravel(), map.ravel()) (1 = every defect pixel above every other,
    0.5 = chance; NaN when the mask is all one class); mass_inside: map[mask].sum() / map.sum() (the share of
    the map's mass on the defect; chance level = mask_area; NaN for an all-zero map); mask_area: mask.mean()."""
    from sklearn.metrics import roc_auc_score

    m = np.asarray(map_, dtype=np.float64)
    k = np.asarray(mask).astype(bool)
    if m.shape != k.shape:
        raise ValueError(f"map {m.shape} and mask {k.shape} differ in shape; resize the mask to the map")
    both = 0 < k.sum() < k.size
    auroc = float(roc_auc_score(k.ravel(), m.ravel())) if both else float("nan")
    total = float(m.sum())
    inside = float(m[k].sum() / total) if total > 0 else float("nan")
    return dict(pixel_auroc=auroc, mass_inside=inside, mask_area=float(k.mean()))


def read_mask_file(path: str | Path, size_hw: tuple[int, int]) -> np.ndarray:
    """A ground-truth mask file (non-zero = defect) as bool [H, W], resized (nearest) to size_hw if needed."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            grey = img.convert("L")
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read mask ({err}); check the ground_truth folder") from None
    if (grey.height, grey.width) != tuple(size_hw):
        grey = grey.resize((size_hw[1], size_hw[0]), Image.NEAREST)
    return np.asarray(grey) > 0  # 0/255 (MVTec) and 0/1 masks alike, as adnkit.data.read_mask


def _sample_parts(sample) -> tuple[Path, object]:
    """(image path, mask path or array or None) of a Sample or a (path, mask) pair."""
    if isinstance(sample, (tuple, list)):
        return Path(sample[0]), sample[1]
    return Path(sample.path), getattr(sample, "mask", None)


def localization_scores(runs: Mapping[str, object], samples: Iterable, method: str = "gradcam", layer="last",
                        **options) -> "pd.DataFrame":
    """One row per (variant, image): variant, path, pixel_auroc, mass_inside, mask_area, score.

    samples: adnkit.data Samples (defective, with masks) or (image path, mask path / bool array) pairs;
    samples without a mask are skipped. Blank maps are warned about and skipped (on_blank="warn")."""
    import pandas as pd

    pairs = [_sample_parts(s) for s in samples]
    pairs = [(p, m) for p, m in pairs if m is not None]
    if not pairs:
        raise DataError("localization needs defective images with ground-truth masks; none of the samples has one")
    options.setdefault("on_blank", "warn")
    rows = []
    for name, run in runs.items():
        for path, mask in pairs:
            ex = explain_image(run, path, method, layer, **options)
            if ex.blank:
                continue
            hw = ex.map.shape
            k = read_mask_file(mask, hw) if isinstance(mask, (str, Path)) else _mask_array(mask, hw)
            rows.append(dict(variant=name, path=str(path), **mask_agreement(ex.map, k), score=ex.score))
    return pd.DataFrame(rows, columns=["variant", "path", "pixel_auroc", "mass_inside", "mask_area", "score"])


def _mask_array(mask, size_hw) -> np.ndarray:
    k = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask).astype(bool)
    if k.shape != tuple(size_hw):
        t = torch.from_numpy(k.astype(np.float32))[None, None]
        k = F.interpolate(t, size=tuple(size_hw), mode="nearest")[0, 0].numpy() > 0.5
    return k


def localization_table(runs: Mapping[str, object], samples: Iterable, method: str = "gradcam", layer="last",
                       **options) -> "pd.DataFrame":
    """Per variant: images, pixel_auroc_mean/std, mass_inside_mean/std and mask_area_mean (the chance level
    of mass_inside) over defective images with masks. A number for the papers' Grad-CAM claim."""
    per_image = localization_scores(runs, list(samples), method, layer, **options)
    table = per_image.groupby("variant", sort=False).agg(
        images=("path", "size"),
        pixel_auroc_mean=("pixel_auroc", "mean"), pixel_auroc_std=("pixel_auroc", "std"),
        mass_inside_mean=("mass_inside", "mean"), mass_inside_std=("mass_inside", "std"),
        mask_area_mean=("mask_area", "mean"),
    ).reset_index()
    table.insert(1, "method", canonical_method(method))
    table.attrs["per_image"] = per_image
    return table


# --------------------------------------------------------------------------------------------------------------
# Files (adnkit explain)
# --------------------------------------------------------------------------------------------------------------
def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).strip("_") or "x"


def unique_names(paths: Sequence[Path]) -> list[str]:
    """File-name stems for images, unique: the stem, else parent_stem (MVTec's test/<defect>/000.png), else
    with a counter."""
    stems = [p.stem for p in paths]
    names = [_safe(s) if stems.count(s) == 1 else _safe(f"{p.parent.name}_{p.stem}") for s, p in zip(stems, paths)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if names.count(n) == 1 else f"{n}_{seen[n]}")
    return out


def _labelled(rgb: np.ndarray, label: str, height: int = 22) -> Image.Image:
    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    canvas = Image.new("RGB", (img.width, img.height + height), "white")
    canvas.paste(img, (0, height))
    ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
    return canvas


def side_by_side(image: np.ndarray, panels: Mapping[str, Explanation], gap: int = 6) -> Image.Image:
    """One PIL image: the original, then each variant's overlay, each with a one-line label above it."""
    tiles = [_labelled(np.rint(image * 255).astype(np.uint8), "original")]
    tiles += [_labelled(ex.overlay, _title(name, ex)) for name, ex in panels.items()]
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (width, max(t.height for t in tiles)), "white")
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out


def write_explanations(run_dirs: Sequence[str | Path], images: Sequence[str | Path], out: str | Path,
                       method: str = "gradcam", layer="last", device: str = "auto", **options) -> list[Path]:
    """For each run and image write `<out>/<run-name>/<image-stem>_<method>.png` (the overlay, at the image's
    own size); with several runs also `<out>/compare/<image-stem>_<method>.png` (original + overlays side by
    side). Images may be files or folders. Returns the written paths. Bad paths: DataError (one line)."""
    from adnkit.score import collect_images

    method = canonical_method(method)
    if not run_dirs:
        raise DataError("no run folder given; pass the --out folder(s) of `adnkit train`")
    runs: dict[str, object] = {}
    for rd in run_dirs:
        run = load_run(rd, device=device)
        name = _safe(Path(rd).resolve().name)
        base, k = name, 2
        while name in runs:
            name, k = f"{base}-{k}", k + 1
        runs[name] = run
    paths = collect_images(list(images))
    stems = unique_names(paths)
    out = Path(out)
    options.setdefault("on_blank", "warn")
    tag = _safe(method)
    written: list[Path] = []
    for path, stem in zip(paths, stems):
        panels: dict[str, Explanation] = {}
        for name, run in runs.items():
            ex = explain_image(run, path, method, layer, **options)
            panels[name] = ex
            target = out / name / f"{stem}_{tag}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ex.overlay, "RGB").save(target)
            written.append(target)
        if len(runs) > 1:
            target = out / "compare" / f"{stem}_{tag}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            side_by_side(next(iter(panels.values())).image, panels).save(target)
            written.append(target)
    return written
