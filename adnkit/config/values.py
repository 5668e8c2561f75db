"""Setting values from text, JSON and YAML: the command line's parser (parse_value, parse_bool), reading a settings
file (read_settings_file: JSON, or YAML through yaml.safe_load), writing one as YAML (yaml_text), and the type check
of a value read from a file (check_json_value)."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import yaml

from adnkit.config.checks import flag
from adnkit.config.groups import field_types
from adnkit.core.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_value(name: str, text: str):
    """Parse a command-line string into the type of setting `name`: tuples take commas (1,4,11), dicts a JSON
    object ('{"reduction": 4}'), booleans true/false/yes/no/on/off/1/0."""
    kind = field_types()[name]
    try:
        if kind is bool:
            return parse_bool(text)
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


def parse_bool(text: str) -> bool:
    """true/yes/on/1 or false/no/off/0 (any case); ValueError for anything else."""
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(text)


def read_settings_file(path: Path):
    """The parsed contents of a settings file: YAML (yaml.safe_load) for .yaml and .yml, else JSON. A file that
    cannot be read or parsed is a one-line ConfigError naming it."""
    is_yaml = path.suffix.lower() in YAML_SUFFIXES
    if not path.is_file():
        raise ConfigError(f"{path}: cannot read config: no such file; give a YAML or JSON file of settings, such as "
                          "a run folder's config.json or --print-config's output")
    try:
        text = path.read_text()
        return yaml.safe_load(text) if is_yaml else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as err:
        what = "YAML" if is_yaml else "JSON (YAML files end in .yaml or .yml)"
        raise ConfigError(f"{path}: cannot read config as {what} ({type(err).__name__}); point at a settings file "
                          "such as a run folder's config.json or --print-config's output") from None


def yaml_text(values: dict) -> str:
    """Settings as YAML that read_settings_file reads back to the same values (tuples written as lists)."""
    return yaml.safe_dump(json.loads(json.dumps(values)), sort_keys=True, default_flow_style=False)


def check_json_value(name: str, value, kind, source: str, fix: str):  # noqa: C901 - one branch per JSON type
    """`value` as read from JSON or YAML, checked against the annotated type `kind` (a string, since annotations
    are postponed): int, float, bool, str, list, dict, or tuple[...] of those."""
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
        raise ConfigError(f"{source}: setting {name!r} is {value!r} ({type(value).__name__}), expected {kind}"
                          f"{_yaml_hint(value, kind)}; {fix}")
    return value


def _yaml_hint(value, kind: str) -> str:
    """What YAML 1.1 (PyYAML) does to values that look right: on/off/yes/no are booleans, 1e-4 is text."""
    if kind == "str" and isinstance(value, bool):
        return " (YAML reads unquoted on/off/yes/no as booleans: quote the value)"
    if kind == "float" and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return f" (YAML reads {value} as text: write it with a dot, e.g. 1.0e-4, or as 0.0001)"
    return ""
