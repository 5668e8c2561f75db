"""Wafer data: a wafer image folder in MVTec layout (`wafer:PATH`), or the public WM-811K wafer maps
(`wm811k:PATH/LSWMD.pkl`).

The Semiconductor Wafer set used by AttentDifferNet (Schlosser et al., TU Chemnitz) is not public; who has it
arranges it in MVTec layout and passes `wafer:PATH`. WM-811K (Wu et al., IEEE TSM 2015; "LSWMD.pkl", shared
on Kaggle and MIR Lab pages) is a pandas pickle of 811,457 wafer maps, a 2-D array per wafer with 0 =
outside the wafer, 1 = good die, 2 = bad die, and a `failureType`. It is converted once into PNG images in
MVTec layout under `<data_root>/wm811k/<file stem>/`:
- maps labelled "none" are normal: a held-out share WM811K_TEST_GOOD_FRACTION (chosen by the CRC-32 of the
  row's index, so the split is deterministic) goes to test/good, the rest to train/good;
- every other failure type (Center, Donut, Edge-Loc, Edge-Ring, Loc, Near-full, Random, Scratch) becomes a
  defect folder test/<type>; unlabelled maps (an empty failureType) are skipped;
- values become grey levels (0 -> 0, 1 -> 128, 2 -> 255) and each map is enlarged by a whole factor with
  nearest-neighbour until its smaller side is at least WM811K_MIN_SIDE px.
A pickle can run arbitrary code when loaded: it is read only from the path the user names, with a warning.
"""

from __future__ import annotations

import json
import math
import pickle
import shutil
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.compat.pickle_compat import Unpickler
from PIL import Image
from tqdm.auto import tqdm

from adnkit.core.errors import DataError
from adnkit.core.formatting import safe_name
from adnkit.data.folder import load_folder
from adnkit.data.images import DataWarning
from adnkit.data.samples import Split

WM811K_MIN_SIDE = 64
WM811K_TEST_GOOD_FRACTION = 0.2
WM811K_GREY = np.array([0, 128, 255], dtype=np.uint8)
"""Grey level of map value 0 (background), 1 (good die), 2 (bad die)."""
_DONE = ".complete.json"
_warned_pickle = False


def load_wafer(path: str | Path) -> Split:
    """A wafer image folder in MVTec layout."""
    path = Path(path).expanduser()
    return load_folder(path, dataset="wafer", category=path.name, name=f"wafer/{path.name}")


def _failure_type(value) -> str | None:
    """WM-811K stores labels as nested arrays ([['none']], [] when unlabelled); plain strings also work."""
    flat = np.asarray(value, dtype=object).ravel()
    if flat.size == 0:
        return None
    label = str(flat[0]).strip()
    return label or None


def map_to_image(wafer_map, min_side: int = WM811K_MIN_SIDE) -> Image.Image:
    """A wafer map (values 0/1/2) as a greyscale image, enlarged by a whole factor (nearest neighbour)."""
    grid = np.asarray(wafer_map, dtype=np.int64)
    if grid.ndim != 2 or grid.size == 0 or grid.min() < 0 or grid.max() > 2:
        raise ValueError(f"not a 2-D map of 0/1/2 values (shape {grid.shape})")
    factor = max(1, math.ceil(min_side / min(grid.shape)))
    grey = WM811K_GREY[grid]
    return Image.fromarray(grey, "L").resize((grid.shape[1] * factor, grid.shape[0] * factor), Image.NEAREST)


def _read_pickle(path: Path) -> pd.DataFrame:
    global _warned_pickle
    if not _warned_pickle:
        warnings.warn(f"{path}: loading a pickle can run arbitrary code; only use a WM-811K file from a source "
                      f"you trust", DataWarning, stacklevel=3)
        _warned_pickle = True
    try:
        frame = pd.read_pickle(path)
    except ModuleNotFoundError as err:  # LSWMD.pkl was written by pandas 0.x ("pandas.indexes...")
        if "pandas" not in str(err):
            raise DataError(f"{path}: cannot unpickle ({err}); is this WM-811K's LSWMD.pkl?") from None
        frame = _read_legacy_pickle(path)
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError, TypeError) as err:
        raise DataError(f"{path}: cannot read the pickle ({err}); point wm811k: at WM-811K's LSWMD.pkl") from None
    if not isinstance(frame, pd.DataFrame) or not {"waferMap", "failureType"} <= set(frame.columns):
        raise DataError(f"{path}: not a WM-811K table (needs columns waferMap and failureType); "
                        f"point wm811k: at LSWMD.pkl")
    return frame


def _read_legacy_pickle(path: Path) -> pd.DataFrame:
    """Read a pickle from pandas 0.x, whose index classes lived in `pandas.indexes`."""
    class LegacyUnpickler(Unpickler):
        def find_class(self, module, name):
            if module.startswith("pandas.indexes"):
                module = "pandas.core.indexes" + module[len("pandas.indexes"):]
            if module == "pandas.core.indexes.numeric":
                module, name = "pandas.core.indexes.base", "Index"
            return super().find_class(module, name)

    try:
        with open(path, "rb") as f:
            return LegacyUnpickler(f).load()
    except Exception as err:  # noqa: BLE001 (anything an old pickle can throw)
        raise DataError(f"{path}: cannot read this old pandas pickle ({type(err).__name__}: {err}); "
                        f"re-save it with a recent pandas (`df.to_pickle`)") from None


def convert_wm811k(pkl: str | Path, out_dir: str | Path, *, min_side: int = WM811K_MIN_SIDE,
                   test_good_fraction: float = WM811K_TEST_GOOD_FRACTION, progress: bool = True) -> Path:
    """Write the labelled WM-811K maps of `pkl` as PNGs in MVTec layout under `out_dir`; return out_dir.

    Done once: a marker file records the source (size, mtime) and settings, and a second call with the same
    ones returns at once. The images are written to a temporary folder renamed into place at the end.
    """
    pkl, out_dir = Path(pkl).expanduser(), Path(out_dir)
    if not pkl.is_file():
        raise DataError(f"{pkl}: WM-811K pickle not found; download LSWMD.pkl (see data/README.md) and pass "
                        f"wm811k:PATH/LSWMD.pkl")
    stamp = {"source": str(pkl.resolve()), "bytes": pkl.stat().st_size, "mtime_ns": pkl.stat().st_mtime_ns,
             "min_side": min_side, "test_good_fraction": test_good_fraction}
    marker = out_dir / _DONE
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return out_dir
    frame = _read_pickle(pkl)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    written = 0
    for index, wafer_map, failure in tqdm(zip(frame.index, frame["waferMap"], frame["failureType"], strict=True),
                                          total=len(frame), desc=f"wm811k {pkl.name}", disable=not progress):
        label = _failure_type(failure)
        if label is None:
            continue
        if label.lower() == "none":
            held_out = zlib.crc32(str(index).encode()) % 10_000 < test_good_fraction * 10_000
            folder = tmp / ("test" if held_out else "train") / "good"
        else:
            folder = tmp / "test" / safe_name(label)
        try:
            image = map_to_image(wafer_map, min_side)
        except ValueError as err:
            raise DataError(f"{pkl}: row {index}: bad waferMap ({err}); is this WM-811K's LSWMD.pkl?") from None
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{index:06d}" if isinstance(index, (int, np.integer)) else safe_name(index)
        image.save(folder / f"{stem}.png")
        written += 1
    if not written:
        raise DataError(f"{pkl}: no labelled wafer maps found (failureType empty everywhere); WM-811K's "
                        f"LSWMD.pkl has about 172,950 labelled maps")
    (tmp / _DONE).write_text(json.dumps(stamp))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def converted_wm811k(data_root: str | Path) -> dict[str, str]:
    """{converted folder: source pickle} for the WM-811K sets already converted under `<data_root>/wm811k/`."""
    folder = Path(data_root).expanduser() / "wm811k"
    found = {}
    for marker in sorted(folder.glob(f"*/{_DONE}")) if folder.is_dir() else []:
        found[str(marker.parent)] = json.loads(marker.read_text()).get("source", "")
    return found


def load_wm811k(pkl: str | Path, data_root: str | Path) -> Split:
    """WM-811K converted (once) under `<data_root>/wm811k/<pkl stem>/`, as a Split."""
    pkl = Path(pkl).expanduser()
    out_dir = convert_wm811k(pkl, Path(data_root) / "wm811k" / pkl.stem)
    return load_folder(out_dir, dataset="wm811k", category=pkl.stem, name=f"wm811k/{pkl.stem}")
