"""Dataset spec strings (`--data SPEC`) and `load_split`, the one entry point the rest of adnkit uses.

    PATH  or  folder:PATH     a category folder in MVTec layout (train/good, test/good, test/<defect>)
    mvtec:ROOT/CATEGORY       MVTec AD (mvtec:CATEGORY looks in <data_root>/mvtec)
    insplad:ROOT/ASSET        InsPLAD-fault, unsupervised split (insplad:ASSET looks in <data_root>/insplad)
    wafer:PATH                a wafer image folder in MVTec layout
    wm811k:PATH/LSWMD.pkl     WM-811K wafer maps, converted once to PNGs under <data_root>/wm811k
    elpv:mono | elpv:poly     ELPV solar cells from the elpv-dataset package (offline)
    synthetic:NAME            a generated set, made once under <data_root>/synthetic/NAME
"""

from __future__ import annotations

import re
from pathlib import Path

from adnkit.core.errors import DataError
from adnkit.data.elpv import load_elpv
from adnkit.data.folder import load_folder
from adnkit.data.images import validate_split
from adnkit.data.insplad import load_insplad
from adnkit.data.mvtec import load_mvtec
from adnkit.data.samples import Split, subset_train
from adnkit.data.synthetic import load_synthetic
from adnkit.data.validation import hold_out_validation
from adnkit.data.wafer import load_wafer, load_wm811k

SPEC_PREFIXES = ("folder", "mvtec", "insplad", "wafer", "wm811k", "elpv", "synthetic")
SPEC_EXAMPLES = {
    "folder": "folder:data/my_part", "mvtec": "mvtec:data/mvtec/bottle",
    "insplad": "insplad:data/insplad/vari-grip", "wafer": "wafer:data/wafer", "wm811k": "wm811k:data/LSWMD.pkl",
    "elpv": "elpv:mono", "synthetic": "synthetic:demo",
}
_PREFIX_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]+):(.*)$")  # two letters or more: C:\ stays a path


def parse_spec(spec: str) -> tuple[str, str]:
    """("mvtec", "data/mvtec/bottle") from "mvtec:data/mvtec/bottle"; a bare path gives ("folder", path)."""
    spec = str(spec).strip()
    match = _PREFIX_RE.match(spec)
    if match and match.group(1).lower() in SPEC_PREFIXES:
        prefix, arg = match.group(1).lower(), match.group(2).strip()
        if not arg:
            raise DataError(f"data spec {spec!r} names no data; e.g. --data {SPEC_EXAMPLES[prefix]}")
        return prefix, arg
    if match and not Path(spec).exists():
        raise DataError(f"data spec {spec!r}: unknown prefix '{match.group(1)}:'; use a folder path or one of "
                        f"{', '.join(p + ':' for p in SPEC_PREFIXES)}")
    if not spec:
        raise DataError("data spec is empty; pass --data with a folder path or e.g. elpv:mono, synthetic:demo")
    return "folder", spec


def spec_names(spec: str) -> tuple[str, str]:
    """(dataset, category) a spec names, without looking at the disk: mvtec:ROOT/bottle -> (mvtec, bottle),
    elpv:mono -> (elpv, mono), synthetic:NAME -> (synthetic, NAME), folder:PATH or a bare path -> (folder,
    last folder name). An unknown prefix is kept as the dataset name (the run then fails with parse_spec's
    message)."""
    spec = str(spec).strip()
    match = _PREFIX_RE.match(spec)
    if match:
        dataset, rest = match.group(1).lower(), match.group(2).strip()
    else:
        dataset, rest = "folder", spec
    if dataset in ("elpv", "synthetic"):
        return dataset, rest
    path = Path(rest)
    name = path.name if path.name not in ("", ".", "..") else path.resolve().name
    return dataset, name or rest


def _root_and_name(arg: str, default_root: Path) -> tuple[Path, str]:
    """"ROOT/NAME" -> (ROOT, NAME); a bare "NAME" that is not a folder here -> (default_root, NAME)."""
    path = Path(arg).expanduser()
    if path.is_dir():
        path = path.resolve()
    elif len(path.parts) == 1:
        return default_root, path.name
    return path.parent, path.name


def open_split(spec: str, *, data_root: str | Path = "data", elpv_defect_threshold: float = 2 / 3,
               elpv_test_good_fraction: float = 0.2) -> Split:
    """The split a spec names, listed but not yet validated (no image is decoded)."""
    prefix, arg = parse_spec(spec)
    data_root = Path(data_root).expanduser()
    if prefix == "folder":
        path = Path(arg).expanduser()
        return load_folder(path, dataset="folder", category=path.resolve().name)
    if prefix == "mvtec":
        return load_mvtec(*_root_and_name(arg, data_root / "mvtec"))
    if prefix == "insplad":
        return load_insplad(*_root_and_name(arg, data_root / "insplad"))
    if prefix == "wafer":
        return load_wafer(arg)
    if prefix == "wm811k":
        return load_wm811k(arg, data_root)
    if prefix == "elpv":
        return load_elpv(arg, threshold=elpv_defect_threshold, test_good_fraction=elpv_test_good_fraction)
    return load_synthetic(arg, data_root)


def load_split(cfg) -> Split:
    """The split `cfg.data` names, validation split held out (`val_fraction`, `val_min_images`, from the file
    names only), then the training subset applied to the rest (`max_train_images`, `seed`), every image checked.

    Reads cfg.data, data_root, skip_bad_images, val_fraction, val_min_images, batch_size, max_train_images,
    seed, min_image_side, elpv_defect_threshold and elpv_test_good_fraction. Raises DataError (one line: what
    and how to fix) for anything unusable.
    """
    split = open_split(cfg.data, data_root=cfg.data_root, elpv_defect_threshold=cfg.elpv_defect_threshold,
                       elpv_test_good_fraction=cfg.elpv_test_good_fraction)
    split = hold_out_validation(split, cfg.val_fraction, cfg.val_min_images, cfg.batch_size)
    split = subset_train(split, cfg.max_train_images, cfg.seed)
    return validate_split(split, min_side=cfg.min_image_side, skip=cfg.skip_bad_images)
