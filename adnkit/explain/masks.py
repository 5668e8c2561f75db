"""A number for the papers' qualitative claim ("the maps sit on the object / the defect").

`mask_agreement(map, mask)`: the pixel AUROC of the map against the ground-truth mask, and the share of the
map's mass inside the mask (chance level: the mask's area fraction). `localization_table(...)`: per variant,
mean and std over defective images with masks. Mask files are read by adnkit.data.read_mask_file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from adnkit.core.errors import DataError
from adnkit.data.dataset import read_mask_file
from adnkit.explain.image import explain_image
from adnkit.explain.methods import canonical_method


def mask_agreement(map_: np.ndarray, mask: np.ndarray) -> dict:
    """How well a map points at a ground-truth defect mask (same [H, W] shape).

    pixel_auroc: sklearn roc_auc_score(mask.ravel(), map.ravel()) (1 = every defect pixel above every other,
    0.5 = chance; NaN when the mask is all one class); mass_inside: map[mask].sum() / map.sum() (the share of
    the map's mass on the defect; chance level = mask_area; NaN for an all-zero map); mask_area: mask.mean()."""
    m = np.asarray(map_, dtype=np.float64)
    k = np.asarray(mask).astype(bool)
    if m.shape != k.shape:
        raise ValueError(f"map {m.shape} and mask {k.shape} differ in shape; resize the mask to the map")
    both = 0 < k.sum() < k.size
    auroc = float(roc_auc_score(k.ravel(), m.ravel())) if both else float("nan")
    total = float(m.sum())
    inside = float(m[k].sum() / total) if total > 0 else float("nan")
    return dict(pixel_auroc=auroc, mass_inside=inside, mask_area=float(k.mean()))


def _sample_parts(sample) -> tuple[Path, object]:
    """(image path, mask path or array or None) of a Sample or a (path, mask) pair."""
    if isinstance(sample, (tuple, list)):
        return Path(sample[0]), sample[1]
    return Path(sample.path), getattr(sample, "mask", None)


def _mask_array(mask, size_hw) -> np.ndarray:
    """A mask given as an array or tensor, as bool [H, W] (nearest resize to size_hw if needed)."""
    k = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask).astype(bool)
    if k.shape != tuple(size_hw):
        t = torch.from_numpy(k.astype(np.float32))[None, None]
        k = F.interpolate(t, size=tuple(size_hw), mode="nearest")[0, 0].numpy() > 0.5
    return k


def localization_scores(runs: Mapping[str, object], samples: Iterable, method: str = "gradcam", layer="last",
                        **options) -> pd.DataFrame:
    """One row per (variant, image): variant, path, pixel_auroc, mass_inside, mask_area, score.

    samples: adnkit.data Samples (defective, with masks) or (image path, mask path / bool array) pairs;
    samples without a mask are skipped. Blank maps are warned about and skipped (on_blank="warn")."""
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


def localization_table(runs: Mapping[str, object], samples: Iterable, method: str = "gradcam", layer="last",
                       **options) -> pd.DataFrame:
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
