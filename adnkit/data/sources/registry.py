"""The data source registry: one `DataSource` record per spec prefix (`mvtec:`, `elpv:`, ...).

A source says how to open `PREFIX:ARG` as a Split, which (dataset, category) a spec names, how the benchmark
expands a whole-dataset spec and what `adnkit data list` shows. The built-in sources are the modules of this
package, registered when it is imported; `register_source` adds one from user code (a notebook cell, a
script) without editing adnkit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from adnkit.core.errors import DataError
from adnkit.data.samples import Split

PREFIX_RE = re.compile(r"[a-z][a-z0-9_-]+")
"""A prefix: lower case, two characters or more, so that `C:\\...` stays a Windows path."""


class CatalogRow(NamedTuple):
    """One line of `adnkit data list`: a dataset category, whether it is on disk, and the spec that opens it."""

    dataset: str
    category: str
    present: bool
    spec: str


@dataclass(frozen=True)
class DataSource:
    """How adnkit reads the specs `PREFIX:ARG` of one kind of dataset.

    prefix   the spec prefix, lower case ("mvtec")
    example  a whole spec, shown when a spec of this prefix names no data ("mvtec:data/mvtec/bottle")
    open     (arg, cfg) -> Split: the images ARG names, listed but not decoded; settings come from cfg
             (cfg.data_root, cfg.elpv_defect_threshold, ...); a bad ARG raises a one-line DataError
    names    arg -> (dataset, category) without touching the disk; None: (prefix, last folder name of ARG)
    expand   (arg, data_root) -> the specs a whole-dataset spec stands for (the benchmark runs each), or None
             to keep the spec as written; ARG is "" for the bare prefix (`elpv`). None: never expands
    catalog  data_root -> CatalogRow list for `adnkit data list`; None: lists nothing
    """

    prefix: str
    example: str
    open: Callable[[str, Any], Split]
    names: Callable[[str], tuple[str, str]] | None = None
    expand: Callable[[str, Path], list[str] | None] | None = None
    catalog: Callable[[Path], list[CatalogRow]] | None = None


_SOURCES: dict[str, DataSource] = {}


def _check(source: DataSource) -> None:
    """DataError (one line) for a record that cannot work as a source."""
    if not isinstance(source, DataSource):
        raise DataError(f"register_source({source!r}): not a DataSource; build one with "
                        f"DataSource(prefix=..., example=..., open=...)")
    if not isinstance(source.prefix, str) or not PREFIX_RE.fullmatch(source.prefix):
        raise DataError(f"data source prefix {source.prefix!r}: use two or more lower-case letters, digits, '-' "
                        f"or '_', starting with a letter (e.g. 'toy')")
    if not str(source.example).startswith(f"{source.prefix}:"):
        raise DataError(f"data source {source.prefix}: example {source.example!r} must be a spec of its own, "
                        f"e.g. '{source.prefix}:NAME'")
    if not callable(source.open):
        raise DataError(f"data source {source.prefix}: open must be a function (arg, cfg) -> Split")


def register_source(source: DataSource, *, replace: bool = False) -> DataSource:
    """Make `source.prefix` a spec prefix everywhere (load_split, spec_names, expand_specs, `adnkit data list`).
    A prefix already registered is an error unless replace=True (e.g. a notebook cell run again)."""
    _check(source)
    if source.prefix in _SOURCES and not replace:
        raise DataError(f"data source '{source.prefix}:' is registered already; pick another prefix, or pass "
                        f"replace=True to register_source to replace it")
    _SOURCES[source.prefix] = source
    return source


def unregister_source(prefix: str) -> DataSource:
    """Remove a registered source and return it (e.g. at the end of a test)."""
    source = _SOURCES.pop(str(prefix).lower(), None)
    if source is None:
        raise DataError(f"data source '{prefix}:' is not registered; registered: {', '.join(spec_prefixes())}")
    return source


def find_source(prefix: str) -> DataSource | None:
    """The source registered for `prefix` (any case), or None."""
    return _SOURCES.get(str(prefix).lower())


def data_sources() -> tuple[DataSource, ...]:
    """Every registered source: the built-in ones by module name, then user ones in registration order."""
    return tuple(_SOURCES.values())


def spec_prefixes() -> tuple[str, ...]:
    """The registered prefixes, in data_sources() order."""
    return tuple(_SOURCES)


def catalog(data_root: str | Path) -> list[CatalogRow]:
    """Every source's known datasets and categories under `data_root`, and whether each is present."""
    root = Path(data_root).expanduser()
    return [row for source in data_sources() if source.catalog is not None for row in source.catalog(root)]
