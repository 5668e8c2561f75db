"""adnkit's version, in one place: the package, run folders, exports, reports and pyproject.toml read it here."""

__version__ = "0.1.0"
