"""A dataset root that holds category folders (MVTec AD, InsPLAD-fault): `ROOT/NAME` specs and whole-root specs.

    mvtec:ROOT/bottle   one category: (ROOT, "bottle"); a bare `mvtec:bottle` looks under a default root
    mvtec:ROOT          the whole dataset: the benchmark runs one spec per category folder (one holding train/)
"""

from __future__ import annotations

from pathlib import Path

from adnkit.core.errors import DataError


def root_and_name(arg: str, default_root: Path) -> tuple[Path, str]:
    """"ROOT/NAME" -> (ROOT, NAME); a bare "NAME" that is not a folder here -> (default_root, NAME)."""
    path = Path(arg).expanduser()
    if path.is_dir():
        path = path.resolve()
    elif len(path.parts) == 1:
        return default_root, path.name
    return path.parent, path.name


def has_train(path: Path) -> bool:
    """Whether `path` is a category folder: it holds train/."""
    return (path / "train").is_dir()


def expand_categories(prefix: str, arg: str, data_root: str | Path, *, inner: tuple[str, ...] = ()) -> list[str] | None:
    """`PREFIX:ROOT` as one spec per category folder of ROOT (sorted; also inside ROOT/<inner>), or the spec
    itself when ROOT is one category. A relative ROOT is taken from the working folder, or else from under
    `data_root`. None for an empty ARG (nothing to expand); DataError for a ROOT missing or without categories.
    """
    if not arg:
        return None
    root = Path(arg)
    if not root.exists() and not root.is_absolute() and (Path(data_root) / root).is_dir():
        root = Path(data_root) / root
        arg = root.as_posix()
    spec = f"{prefix}:{arg}"
    if has_train(root):
        return [spec]
    if not root.is_dir():
        raise DataError(f"{spec}: folder {arg!r} not found; give the dataset's root folder "
                        f"({prefix}:ROOT) or one category ({prefix}:ROOT/CATEGORY)")
    places = [root] + [root / sub for sub in inner]
    found = sorted((child for place in places if place.is_dir() for child in place.iterdir()
                    if child.is_dir() and has_train(child)), key=lambda p: (p.name, str(p)))
    if not found:
        where = "".join(f" or {root / sub}" for sub in inner)
        raise DataError(f"{spec}: no category folder (one holding train/) inside {root}{where}; "
                        f"point {prefix}:ROOT at the folder that holds the categories")
    base = arg.rstrip("/\\")
    return [f"{prefix}:{base}/{child.relative_to(root).as_posix()}" for child in found]
