"""Setting values from text and from JSON: the command line's parser (parse_value) and the type check of a
value read from a config file (check_json_value)."""

from __future__ import annotations

import json
import typing

from adnkit.config.checks import flag
from adnkit.config.groups import field_types
from adnkit.core.errors import ConfigError


def parse_value(name: str, text: str):
    """Parse a command-line string into the type of setting `name`: tuples take commas (1,4,11), dicts a JSON
    object ('{"reduction": 4}'), booleans true/false/yes/no/on/off/1/0."""
    kind = field_types()[name]
    try:
        if kind is bool:
            return _parse_bool(text)
        if kind is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(text)
            return value
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            return tuple(item(v) for v in text.split(",") if v.strip())
        return kind(text)
    except ValueError:
        expected = "a JSON object" if kind is dict else getattr(kind, "__name__", kind)
        raise ConfigError(f"{flag(name)} {text!r}: expected {expected}") from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def check_json_value(name: str, value, kind, source: str, fix: str):  # noqa: C901 - one branch per JSON type
    """`value` as read from JSON, checked against the annotated type `kind` (a string, since annotations are
    postponed): int, float, bool, str, list, dict, or tuple[...] of those."""
    kind = str(kind).replace("typing.", "")
    ok = True
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind in ("list", "dict"):
        ok = isinstance(value, list if kind == "list" else dict)
    elif kind.startswith("tuple"):
        item = "float" if "float" in kind else "int" if "int" in kind else "str"
        ok = isinstance(value, (list, tuple)) and all(
            check_json_value(name, v, item, source, fix) is not None for v in value)
        value = tuple(value) if ok else value
    if not ok:
        raise ConfigError(f"{source}: setting {name!r} is {value!r} ({type(value).__name__}), expected {kind}; {fix}")
    return value
