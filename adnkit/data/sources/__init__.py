"""Data sources: what each spec prefix (`mvtec:`, `elpv:`, ...) means, one module per built-in source.

Every module of this package that defines `SOURCE = DataSource(...)` is registered when the package is
imported, so a new built-in source is one new file here; user code calls `register_source` instead. See
registry.py for the DataSource fields, and adnkit.data.specs for how specs reach a source.
"""

import importlib
import pkgutil

from adnkit.data.sources.registry import (
    CatalogRow,
    DataSource,
    catalog,
    data_sources,
    find_source,
    register_source,
    spec_prefixes,
    unregister_source,
)

for _module in pkgutil.iter_modules(__path__, f"{__name__}."):
    _source = getattr(importlib.import_module(_module.name), "SOURCE", None)
    if _source is not None:
        register_source(_source)

__all__ = ["CatalogRow", "DataSource", "catalog", "data_sources", "find_source", "register_source",
           "spec_prefixes", "unregister_source"]
