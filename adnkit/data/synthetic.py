"""Synthetic anomaly-detection sets in MVTec layout, so that everything runs (and is tested) with no download.

Two kinds, in the spirit of MVTec AD's textures and objects:
- "texture": a woven, striped or mottled surface in one colour scheme, filling the frame;
- "object": a round washer-like part centred on a plain background.
Good images vary (texture phase / object position, lighting gain and gradient, sensor noise) but stay one
class. Defects, each drawn with its binary mask (MVTec convention `ground_truth/<defect>/<name>_mask.png`):
scratch (bright or dark strokes), hole (a dark pit), crack (a dark branching line), contamination (a blob of
a foreign vivid colour), color (a large stain tinted toward another hue). They are meant to be plainly
visible, a few to ~15 % of the image, so that a flow on AlexNet features trained for seconds separates them.

`synthetic:NAME` makes the set once under `<data_root>/synthetic/NAME/` and reuses it: the kind is "object"
when NAME contains "object" (any case), else "texture"; when NAME contains "small", every defect is drawn at
SMALL_DEFECT_SCALE of its usual size (0.1-1.5 % of the image; still plain at 160 px); when NAME contains "fine",
the set is the hard one for image_size sweeps (FINE_SET: 512 px images, defects at 0.1 of their size and half
opacity, 0.03-0.13 % of the image, which a 160 px input blurs into the texture); the seed is the CRC-32 of
NAME, so the same NAME gives the same images on every machine (Python's hash() is salted per process and would
not).
"""

from __future__ import annotations

import colorsys
import json
import os
import re
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from adnkit.core.errors import DataError
from adnkit.data.folder import load_folder
from adnkit.data.samples import Split

SYNTHETIC_KINDS = ("texture", "object")
SYNTHETIC_DEFECTS = ("scratch", "hole", "crack", "contamination", "color")
_DONE = ".complete.json"
_MIN_DEFECT_AREA = 0.02  # share of the image (times defect_scale squared)
SMALL_DEFECT_SCALE = 0.3
FINE_SET = dict(size=512, defect_scale=0.1, defect_opacity=0.5, n_train=200, n_test_good=50, n_test_defect=75)
_NAME_RE = re.compile(r"\w([\w .-]*[\w-])?")  # a folder name: no separators, no leading dot or trailing space


def name_seed(name: str) -> int:
    """A seed that depends only on the text of `name` (CRC-32)."""
    return zlib.crc32(name.encode("utf-8"))


def kind_for_name(name: str) -> str:
    return "object" if "object" in name.lower() else "texture"


def defect_scale_for_name(name: str) -> float:
    return SMALL_DEFECT_SCALE if "small" in name.lower() else 1.0


def options_for_name(name: str) -> dict:
    """make_synthetic's arguments that `synthetic:NAME` takes from NAME (module docstring)."""
    options = {"kind": kind_for_name(name), "seed": name_seed(name), "defect_scale": defect_scale_for_name(name)}
    return {**options, **FINE_SET} if "fine" in name.lower() else options


@dataclass(frozen=True)
class _Style:
    """What all images of one set share."""

    kind: str
    pattern: str
    dark: np.ndarray  # RGB in [0, 1]
    light: np.ndarray
    background: np.ndarray
    period: float  # texture period as a fraction of the image side
    angle: float
    hue: float


def _rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _style(kind: str, seed: int) -> _Style:
    rng = np.random.default_rng([seed, 0])
    hue = float(rng.uniform())
    if kind == "texture":
        sat = float(rng.uniform(0.25, 0.5))
        return _Style(kind, str(rng.choice(["woven", "stripes", "mottled"])), _rgb(hue, sat, 0.35),
                      _rgb(hue, sat * 0.8, 0.7), _rgb(0, 0, 0), float(rng.uniform(0.06, 0.1)),
                      float(rng.uniform(0, np.pi)), hue)
    return _Style(kind, "washer", _rgb(hue, 0.15, 0.45), _rgb(hue, 0.1, 0.85), _rgb(hue + 0.5, 0.1, 0.12),
                  0.0, 0.0, hue)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Random field with features about size/cells px wide, values in about [-1, 1]."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, "F").resize((size, size), Image.BICUBIC))


def _texture(style: _Style, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    size = xx.shape[0]
    du, dv = rng.uniform(0, 1, 2).tolist()  # phase jitter: where the pattern starts
    cos, sin = float(np.cos(style.angle)) / style.period, float(np.sin(style.angle)) / style.period
    u = xx * cos + yy * sin + du
    v = yy * cos - xx * sin + dv
    if style.pattern == "woven":  # threads going over and under in a checkerboard
        over = (np.floor(2 * u) + np.floor(2 * v)) % 2 == 0
        pattern = np.where(over, np.sin(np.pi * (2 * v % 1)), np.sin(np.pi * (2 * u % 1)))
    elif style.pattern == "stripes":
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * u) + 0.15 * _smooth_noise(rng, size, 32)
    else:  # mottled
        pattern = 0.5 + 0.35 * _smooth_noise(rng, size, 12) + 0.2 * _smooth_noise(rng, size, 48)
    pattern = np.clip(pattern, 0, 1)[..., None]
    return style.dark + (style.light - style.dark) * pattern


def _object(style: _Style, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray):
    """A washer: annulus with radial shading and fine grooves. Returns image, part mask, centre, radii."""
    size = xx.shape[0]
    cx, cy = (0.5 + rng.uniform(-0.04, 0.04, 2)).tolist()
    r_out, r_in = 0.34 * float(rng.uniform(0.97, 1.03)), 0.13
    dist = np.hypot(xx - cx, yy - cy)
    edge = 1.5 / size  # anti-aliased rim, 1.5 px
    alpha = np.clip((r_out - dist) / edge + 0.5, 0, 1) * np.clip((dist - r_in) / edge + 0.5, 0, 1)
    light_dir = float(rng.uniform(-0.3, 0.3)) + 2.3
    shade = 0.55 + 0.3 * np.cos(np.arctan2(yy - cy, xx - cx) - light_dir) + 0.05 * np.sin(2 * np.pi * dist * 60)
    part = style.dark + (style.light - style.dark) * np.clip(shade, 0, 1)[..., None]
    img = style.background + (part - style.background) * alpha[..., None]
    return img, alpha > 0.5, (cx, cy), (r_in, r_out)


def _vivid(style: _Style, rng: np.random.Generator) -> np.ndarray:
    """A saturated colour far from the set's own hue."""
    return _rgb(style.hue + rng.uniform(0.3, 0.7), 0.9, 0.95)


def _defect_mask(defect: str, rng: np.random.Generator, size: int, centre, radii, scale: float = 1.0) -> np.ndarray:
    """Where the defect goes, as a bool array; drawn with PIL.ImageDraw. Its lengths, radii and stroke widths are
    `scale` times the usual ones (positions are not scaled)."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    d = size * scale  # the defect's own length unit

    def width(k: int) -> int:
        return max(3 if scale >= 1 else 2, int(d // k))

    if radii is None:  # texture: anywhere away from the border
        px, py = rng.uniform(0.25, 0.75, 2) * size
    else:  # object: on the part, between its inner and outer rim
        angle, rad = rng.uniform(0, 2 * np.pi), rng.uniform(radii[0] + 0.08, radii[1] - 0.08)
        px, py = (centre[0] + rad * np.cos(angle)) * size, (centre[1] + rad * np.sin(angle)) * size
    if defect == "scratch":
        for _ in range(int(rng.integers(3, 5))):
            phi, length = rng.uniform(0, np.pi), rng.uniform(0.3, 0.45) * d
            t = np.linspace(-0.5, 0.5, 6)
            bend = rng.uniform(-0.04, 0.04) * d * (1 - (2 * t) ** 2)
            xs = px + t * length * np.cos(phi) - bend * np.sin(phi) + rng.uniform(-0.05, 0.05) * d
            ys = py + t * length * np.sin(phi) + bend * np.cos(phi) + rng.uniform(-0.05, 0.05) * d
            points = list(zip(xs.tolist(), ys.tolist(), strict=True))
            draw.line(points, fill=255, width=width(28), joint="curve")
    elif defect == "hole":
        rx, ry = rng.uniform(0.1, 0.13, 2) * d
        draw.ellipse([px - rx, py - ry, px + rx, py + ry], fill=255)
    elif defect == "crack":  # a wandering trunk through (px, py) and two thinner branches off it
        step = 0.035 * d

        def walk(x: float, y: float, heading: float, steps: int):
            turns = heading + np.cumsum(rng.uniform(-0.6, 0.6, steps))
            xs = x + np.concatenate([[0.0], np.cumsum(step * np.cos(turns))])
            ys = y + np.concatenate([[0.0], np.cumsum(step * np.sin(turns))])
            return list(zip(xs.tolist(), ys.tolist(), strict=True)), turns

        heading = rng.uniform(0, 2 * np.pi)
        trunk, turns = walk(px - 8 * step * np.cos(heading), py - 8 * step * np.sin(heading), heading, 16)
        draw.line(trunk, fill=255, width=width(22), joint="curve")
        for _ in range(2):
            k = int(rng.integers(3, 14))
            branch, _ = walk(*trunk[k], turns[k - 1] + rng.choice([-1, 1]) * 0.9, 6)
            draw.line(branch, fill=255, width=width(32), joint="curve")
    elif defect == "contamination":
        for _ in range(int(rng.integers(6, 10))):
            ox, oy = rng.normal(0, 0.05, 2) * d
            r = rng.uniform(0.04, 0.07) * d
            draw.ellipse([px + ox - r, py + oy - r, px + ox + r, py + oy + r], fill=255)
    elif defect == "color":
        rx, ry = rng.uniform(0.14, 0.2, 2) * d
        draw.ellipse([px - rx, py - ry, px + rx, py + ry], fill=255)
    else:
        raise DataError(f"synthetic defect {defect!r} is unknown; use some of: {', '.join(SYNTHETIC_DEFECTS)}")
    return np.asarray(canvas) > 0


def _apply_defect(defect: str, img: np.ndarray, mask: np.ndarray, style: _Style, rng: np.random.Generator,
                  opacity: float = 1.0):
    """Paint the defect into `img` (float RGB) where `mask` is set, blended over the surface at `opacity`."""
    size = img.shape[0]
    before = img[mask].copy() if opacity < 1 else None
    grain = _smooth_noise(rng, size, 24)[..., None]
    if defect == "scratch":
        bright = mask.any() and img[mask].mean() < 0.55
        img[mask] = (np.array([0.97, 0.96, 0.92]) if bright else np.array([0.04, 0.04, 0.05]))
    elif defect in ("hole", "crack"):
        img[mask] = 0.03 + 0.02 * grain[mask]
    elif defect == "contamination":
        img[mask] = _vivid(style, rng) * (0.85 + 0.1 * grain[mask])
    elif defect == "color":
        img[mask] = 0.4 * img[mask] + 0.6 * _vivid(style, rng)
    if before is not None:
        img[mask] = opacity * img[mask] + (1 - opacity) * before


def _render(style: _Style, rng: np.random.Generator, size: int, defect: str | None, defect_scale: float = 1.0,
            defect_opacity: float = 1.0):
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    if style.kind == "texture":
        img, part, centre, radii = _texture(style, rng, yy, xx), None, None, None
    else:
        img, part, centre, radii = _object(style, rng, yy, xx)
    img = np.array(img, dtype=np.float32)
    mask = None
    if defect is not None:
        for _ in range(8):  # on an object, redraw a defect that mostly fell off the part
            mask = _defect_mask(defect, rng, size, centre, radii, defect_scale)
            if part is not None:
                mask &= part
            if mask.mean() >= _MIN_DEFECT_AREA * defect_scale**2:
                break
        _apply_defect(defect, img, mask, style, rng, defect_opacity)
    # lighting (gain and a gentle gradient) and sensor noise make every good image a little different
    gx, gy = rng.uniform(-0.08, 0.08, 2).tolist()
    gain = float(rng.uniform(0.9, 1.1)) * (1 + gx * (xx - 0.5) + gy * (yy - 0.5))
    img = img * gain[..., None] + 0.02 * rng.standard_normal(img.shape, dtype=np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def make_synthetic(out_dir: str | Path, *, kind: str = "texture", n_train: int = 60, n_test_good: int = 20,
                   n_test_defect: int = 30, size: int = 256, seed: int = 0,
                   defects: tuple[str, ...] = SYNTHETIC_DEFECTS, defect_scale: float = 1.0,
                   defect_opacity: float = 1.0) -> Path:
    """Write a synthetic set in MVTec layout (with masks) into `out_dir`; the same arguments give the same bytes.
    `defect_scale` < 1 draws every defect smaller (lengths, radii and stroke widths times it); `defect_opacity`
    < 1 blends it with the surface under it (fainter, the mask unchanged).

    Defect types take turns over the `n_test_defect` images. Returns `out_dir`.
    """
    if kind not in SYNTHETIC_KINDS:
        raise DataError(f"synthetic kind {kind!r} is unknown; use --kind texture or --kind object")
    unknown = [d for d in defects if d not in SYNTHETIC_DEFECTS]
    if unknown or not defects:
        raise DataError(f"synthetic defects {unknown or '()'}: unknown; use some of: {', '.join(SYNTHETIC_DEFECTS)}")
    if not 0.05 <= defect_scale <= 1:
        raise DataError(f"synthetic set: defect_scale={defect_scale} must lie in [0.05, 1]")
    if not 0.1 <= defect_opacity <= 1:
        raise DataError(f"synthetic set: defect_opacity={defect_opacity} must lie in [0.1, 1]")
    if n_train < 1 or n_test_good < 1 or n_test_defect < 0 or size < 64:
        raise DataError(f"synthetic set: need n_train >= 1, n_test_good >= 1, n_test_defect >= 0 and size >= 64 "
                        f"(got {n_train}, {n_test_good}, {n_test_defect}, {size})")
    out_dir = Path(out_dir)
    style = _style(kind, seed)
    jobs = [("train/good", i, None, 1) for i in range(n_train)]
    jobs += [("test/good", i, None, 2) for i in range(n_test_good)]
    jobs += [(f"test/{defects[i % len(defects)]}", i // len(defects), defects[i % len(defects)], 3)
             for i in range(n_test_defect)]

    def write(job: tuple[str, int, str | None, int]) -> None:
        folder, index, defect, part = job
        rng = np.random.default_rng([seed, part, index, SYNTHETIC_DEFECTS.index(defect) if defect else 0])
        pixels, mask = _render(style, rng, size, defect, defect_scale, defect_opacity)
        Image.fromarray(pixels, "RGB").save(out_dir / folder / f"{index:03d}.png")
        if mask is not None:
            Image.fromarray(mask.astype(np.uint8) * 255, "L").save(
                out_dir / "ground_truth" / defect / f"{index:03d}_mask.png")

    for folder in {job[0] for job in jobs} | {f"ground_truth/{job[2]}" for job in jobs if job[2]}:
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    # each image has its own generator, so threads (numpy and PNG encoding release the GIL) keep it deterministic
    with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(write, jobs))
    settings = dict(kind=kind, n_train=n_train, n_test_good=n_test_good, n_test_defect=n_test_defect, size=size,
                    seed=seed, defects=list(defects), **({"defect_scale": defect_scale} if defect_scale != 1 else {}),
                    **({"defect_opacity": defect_opacity} if defect_opacity != 1 else {}))
    (out_dir / _DONE).write_text(json.dumps(settings, indent=1))
    return out_dir


def synthetic_set(name: str, data_root: str | Path, *, force: bool = False, **options) -> Path:
    """The folder of set NAME under `<data_root>/synthetic/`, generated now if it is not there (or `force`).

    `options` go to make_synthetic; without them the kind and seed come from NAME (module docstring). The set
    is written to a temporary folder and renamed into place, so a half-written set never carries the name.
    """
    if not _NAME_RE.fullmatch(name):
        raise DataError(f"synthetic:{name}: a name may hold only letters, digits, spaces, '.', '_' and '-'; "
                        f"e.g. synthetic:demo or synthetic:object-demo")
    out_dir = Path(data_root).expanduser() / "synthetic" / name
    if (out_dir / _DONE).is_file() and not force:
        return out_dir
    if out_dir.exists() and not force:
        raise DataError(f"{out_dir}: exists but is not a complete synthetic set; delete it to regenerate")
    tmp = out_dir.with_name(f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    options = {**options_for_name(name), **options}
    make_synthetic(tmp, **options)
    if force and out_dir.exists():
        shutil.rmtree(out_dir)
    try:
        tmp.rename(out_dir)
    except OSError:  # another process finished the same set first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def synthetic_sets(data_root: str | Path) -> list[str]:
    """Names of the complete synthetic sets under `<data_root>/synthetic/`."""
    folder = Path(data_root).expanduser() / "synthetic"
    return sorted(p.name for p in folder.iterdir() if (p / _DONE).is_file()) if folder.is_dir() else []


def load_synthetic(name: str, data_root: str | Path) -> Split:
    """`synthetic:NAME`: the cached set under `<data_root>/synthetic/NAME/`, made on first use."""
    out_dir = synthetic_set(name, data_root)
    return load_folder(out_dir, dataset="synthetic", category=name, name=f"synthetic/{name}")
