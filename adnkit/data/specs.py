"""Dataset spec strings (`--data SPEC`) and `load_split`, the one entry point the rest of adnkit uses. Built in:

    PATH  or  folder:PATH     a category folder in MVTec layout (train/good, test/good, test/<defect>)
    mvtec:ROOT/CATEGORY       MVTec AD (mvtec:CATEGORY looks in <data_root>/mvtec)
    insplad:ROOT/ASSET        InsPLAD-fault, unsupervised split (insplad:ASSET looks in <data_root>/insplad)
    wafer:PATH                a wafer image folder in MVTec layout
    wm811k:PATH/LSWMD.pkl     WM-811K wafer maps, converted once to PNGs under <data_root>/wm811k
    elpv:mono | elpv:poly     ELPV solar cells from the elpv-dataset package (offline)
    synthetic:NAME            a generated set, made once under <data_root>/synthetic/NAME

Each prefix is a DataSource of the registry (adnkit.data.sources); the functions here only find the source
a spec names and ask it, so a source registered by user code works everywhere a built-in one does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data.images import validate_split
from adnkit.data.samples import Split, subset_train
from adnkit.data.sources import find_source, spec_prefixes
from adnkit.data.validation import hold_out_validation

_PREFIX_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]+):(.*)$")  # two letters or more: C:\ stays a path


def parse_spec(spec: str) -> tuple[str, str]:
    """("mvtec", "data/mvtec/bottle") from "mvtec:data/mvtec/bottle"; a bare path gives ("folder", path)."""
    spec = str(spec).strip()
    match = _PREFIX_RE.match(spec)
    source = find_source(match.group(1)) if match else None
    if source is not None:
        arg = match.group(2).strip()
        if not arg:
            raise DataError(f"data spec {spec!r} names no data; e.g. --data {source.example}")
        return source.prefix, arg
    if match and not Path(spec).exists():
        raise DataError(f"data spec {spec!r}: unknown prefix '{match.group(1)}:'; use a folder path or one of "
                        f"{', '.join(p + ':' for p in spec_prefixes())}")
    if not spec:
        raise DataError("data spec is empty; pass --data with a folder path or e.g. elpv:mono, synthetic:demo")
    return "folder", spec


def _last_name(path: str) -> str:
    """The last folder name of a path, resolved for ".", ".." and "/"; the path itself if it has none."""
    name = Path(path).name
    return (name if name not in ("", ".", "..") else Path(path).resolve().name) or path


def spec_names(spec: str) -> tuple[str, str]:
    """(dataset, category) a spec names, without looking at the disk: mvtec:ROOT/bottle -> (mvtec, bottle),
    elpv:mono -> (elpv, mono), synthetic:NAME -> (synthetic, NAME), folder:PATH or a bare path -> (folder,
    last folder name). An unknown prefix is kept as the dataset name (the run then fails with parse_spec's
    message)."""
    spec = str(spec).strip()
    match = _PREFIX_RE.match(spec)
    dataset, rest = (match.group(1).lower(), match.group(2).strip()) if match else ("folder", spec)
    source = find_source(dataset)
    if source is not None and source.names is not None:
        return source.names(rest)
    return dataset, _last_name(rest)


def expand_specs(specs: Iterable[str], data_root: str | Path = "data") -> list[str]:
    """Expand whole-dataset specs into one spec per category, keeping order and dropping repeats.

    elpv              -> elpv:mono, elpv:poly
    mvtec:ROOT        -> mvtec:ROOT/<cat> for each sub-folder of ROOT holding train/ (sorted), unless ROOT itself
                         holds train/ (then it is one category and stays as it is)
    insplad:ROOT      -> the same, also looking inside ROOT/unsupervised_anomaly_detection
    anything else     -> unchanged

    Each source's `expand` decides (a bare prefix such as `elpv` reaches it as ""). A relative ROOT is taken
    from the working folder, or else from under `data_root`. A ROOT that does not exist, or holds no category,
    raises DataError.
    """
    out: list[str] = []
    for spec in specs:
        spec = str(spec).strip()
        match = _PREFIX_RE.match(spec)
        source, arg = (find_source(match.group(1)), match.group(2).strip()) if match else (find_source(spec), "")
        expanded = None
        if source is not None and source.expand is not None and (arg or not match):
            expanded = source.expand(arg, Path(data_root))
        out += [spec] if expanded is None else expanded
    return list(dict.fromkeys(out))


def _open(cfg: Config) -> Split:
    prefix, arg = parse_spec(cfg.data)
    return find_source(prefix).open(arg, cfg)


def open_split(spec: str, *, data_root: str | Path = "data", elpv_defect_threshold: float = 2 / 3,
               elpv_test_good_fraction: float = 0.2) -> Split:
    """The split a spec names, listed but not yet validated (no image is decoded)."""
    return _open(Config(data=str(spec), data_root=str(data_root), elpv_defect_threshold=elpv_defect_threshold,
                        elpv_test_good_fraction=elpv_test_good_fraction))


def load_split(cfg) -> Split:
    """The split `cfg.data` names, validation split held out (`val_fraction`, `val_min_images`, from the file
    names only), then the training subset applied to the rest (`max_train_images`, `seed`), every image checked.

    Reads cfg.data, data_root, skip_bad_images, val_fraction, val_min_images, batch_size, max_train_images,
    seed, min_image_side and whatever the spec's source reads (ELPV: elpv_defect_threshold and
    elpv_test_good_fraction). Raises DataError (one line: what and how to fix) for anything unusable.
    """
    split = _open(cfg)
    split = hold_out_validation(split, cfg.val_fraction, cfg.val_min_images, cfg.batch_size)
    split = subset_train(split, cfg.max_train_images, cfg.seed)
    return validate_split(split, min_side=cfg.min_image_side, skip=cfg.skip_bad_images)
