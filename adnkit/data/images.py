"""Reading images: which files count as images, decoding them to RGB, and checking a whole split up front.

Decisions, so that a run never dies halfway through an epoch:
- A file is an image if its extension is one of IMAGE_EXTENSIONS (any case). Other files (readme.txt,
  Thumbs.db, .csv) are ignored silently, and so are hidden files (".DS_Store", macOS "._name.png" forks).
- A file with an image extension that does not decode fully (truncated, corrupt, not really an image) is a
  bad image, and so is one whose smaller side is below `min_side` (too small for AlexNet). A bad image is a
  DataError, unless the caller asked to skip bad images: then they are dropped with one DataWarning that
  counts them and names the first.
- Every mode becomes 3-channel RGB: grey ("L", "1") is repeated into three channels; alpha ("RGBA", "LA",
  transparent "P") is dropped, as torchvision's ImageFolder does; 16-bit and 32-bit ("I;16", "I", "F") are
  scaled linearly from the image's own min..max to 0..255 (12-bit data in a 16-bit file would otherwise look
  black, and clipping would destroy it). A constant 16-bit image becomes black.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from adnkit.core.errors import DataError
from adnkit.data.samples import Split

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                              ".ppm", ".pgm", ".pbm", ".pnm"})
MIN_IMAGE_SIDE = 32
"""Default smallest side accepted (Config.min_image_side)."""

_BAD_IMAGE_FIX = "replace or delete the file, or pass --skip-bad-images to drop such files"
_HIGH_DEPTH_MODES = ("I", "F")  # "I;16", "I;16B", ... start with "I"


class DataWarning(UserWarning):
    """Something in a dataset was skipped or looks wrong, but a run can go on."""


def is_image_file(path: Path) -> bool:
    """True for a visible file with an image extension."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name (not recursive)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def collect_images(items) -> list[Path]:
    """Files as given, folders expanded to the image files below them (sorted); nothing found is an error."""
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if is_image_file(p))
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"{item}: no such file or folder; pass image files or folders of images")
    if not paths:
        raise DataError(
            f"no images found in {[str(i) for i in items]}; supported: {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return paths


def _open_checked(path: Path, min_side: int) -> Image.Image:
    """Open and fully decode `path`; raise DataError if it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found; check the path")
    try:
        with Image.open(path) as img:
            img.load()  # decode every pixel now: truncated or corrupt data fails here, not mid-training
            img = ImageOps.exif_transpose(img)  # camera JPEGs: honour the orientation tag
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: cannot decode image ({reason}); {_BAD_IMAGE_FIX}") from None
    if min(img.size) < min_side:
        raise DataError(
            f"{path}: image is {img.width}x{img.height} px, smaller than min_image_side={min_side} "
            f"(too small for the network); use larger images, a lower --min-image-side, or --skip-bad-images"
        )
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB (see the module docstring for the rules)."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith(_HIGH_DEPTH_MODES):
        values = np.asarray(img, dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        grey = np.rint((values - lo) * scale).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # PIL warns when a transparent palette goes straight to RGB
    try:
        return img.convert("RGB")
    except ValueError as err:
        raise DataError(f"image mode {img.mode} cannot be converted to RGB ({err}); "
                        f"save it as an RGB or greyscale PNG") from None


def read_image(path: str | Path, *, min_side: int = MIN_IMAGE_SIDE) -> Image.Image:
    """The image at `path` as an RGB PIL image, fully decoded; DataError if unreadable or too small."""
    img = _open_checked(Path(path), min_side)
    try:
        return to_rgb(img)
    except DataError as err:
        raise DataError(f"{path}: {err}") from None


# Results of check_image keyed by (path, size, mtime, min_side): a benchmark loads the same category many
# times (attention x seeds), and decoding thousands of images each time would dominate its start-up.
_CHECKED: dict[tuple, str | None] = {}


def check_image(path: Path, min_side: int = MIN_IMAGE_SIDE) -> str | None:
    """None if `path` is a usable image, else the one-line DataError message saying why not."""
    try:
        st = path.stat()
    except OSError:
        return f"{path}: image file not found; check the path"
    key = (str(path), st.st_size, st.st_mtime_ns, min_side)
    if key not in _CHECKED:
        try:
            read_image(path, min_side=min_side)  # also proves the mode converts to RGB
            _CHECKED[key] = None
        except DataError as err:
            _CHECKED[key] = str(err)
    return _CHECKED[key]


def check_images(paths: list[Path], min_side: int = MIN_IMAGE_SIDE) -> dict[Path, str]:
    """Decode every image (in threads: PIL releases the GIL while decoding); {path: reason} for bad ones."""
    workers = min(8, os.cpu_count() or 1)
    if len(paths) < 16 or workers == 1:
        results = [check_image(p, min_side) for p in paths]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda p: check_image(p, min_side), paths))
    return {p: reason for p, reason in zip(paths, results, strict=True) if reason is not None}


def drop_bad(paths: list[Path], bad: dict[Path, str], *, skip: bool, where: str) -> None:
    """Raise the first bad image's DataError, or (skip=True) warn once with the count. `where` names the set."""
    if not bad:
        return
    first = next(p for p in paths if p in bad)
    if not skip:
        more = f" (and {len(bad) - 1} more bad image(s) in {where})" if len(bad) > 1 else ""
        raise DataError(bad[first] + more)
    warnings.warn(
        f"{where}: skipped {len(bad)} bad image(s) of {len(paths)}; first: {bad[first]}",
        DataWarning, stacklevel=3,
    )


def validate_split(split: Split, *, min_side: int = MIN_IMAGE_SIDE, skip: bool = False) -> Split:
    """Decode every image of `split` (train, val, test) now (a bad one is a DataError, or dropped with `skip`);
    return the split.

    Also checks what the training loop needs: some training images and some good test images are left. A test
    set without defective images is allowed (an engineer may only have good ones) but warned about, since
    the AUROC is then undefined.
    """
    paths = [s.path for s in split.train + split.val + split.test]
    bad = check_images(paths, min_side)
    drop_bad(paths, bad, skip=skip, where=split.name)
    if bad:
        split.train = [s for s in split.train if s.path not in bad]
        split.val = [s for s in split.val if s.path not in bad]
        split.test = [s for s in split.test if s.path not in bad]
        split.ignored = [*split.ignored, *(p for p in paths if p in bad)]
    if not split.train:
        raise DataError(f"{split.name}: no usable training images left after skipping bad ones; fix or replace them")
    if not any(s.label == 0 for s in split.test):
        raise DataError(f"{split.name}: no usable good test images left after skipping bad ones; fix or replace them")
    if not any(s.label == 1 for s in split.test):
        warnings.warn(f"{split.name}: the test set has no defective images, so the AUROC is undefined; add "
                      f"test/<defect>/ folders with defective images to measure it", DataWarning, stacklevel=2)
    return split
