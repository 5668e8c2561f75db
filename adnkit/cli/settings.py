"""The settings of train, bench, demo and study on the command line: one flag per Config field, grouped by concern,
and --preset, --config FILE and --print-config.

Settings apply in this order: the preset (`--preset`, else `default_preset()`), then `--config FILE` (YAML or JSON,
read by Config.from_json: a run folder's config.json works as it is), then the flags typed. Switches follow one
convention, `--train-attention` / `--no-train-attention` (argparse.BooleanOptionalAction); the older spelling with
a value (`--train-attention true`) still works (`switch_spelling`).
"""

from __future__ import annotations

import argparse
import re
import typing

from adnkit.cli.help import add_help_all, with_help
from adnkit.config import PRESETS, Config, field_docs, field_types, group_fields, machine_preset, parse_value, preset
from adnkit.config.checks import flag
from adnkit.config.groups import RARELY_CHANGED
from adnkit.config.values import FALSE_WORDS, TRUE_WORDS, yaml_text

# Metavars that say more than the type.
METAVARS = {"data": "SPEC", "data_root": "DIR", "attention": "NAME", "device": "DEVICE"}
PRINT_FORMATS = ("json", "yaml")


def default_preset() -> str:
    """The preset a command starts from without --preset: the machine's (adnkit.config.presets.machine_preset:
    gpu where a CUDA GPU with enough memory is visible, else cpu), as in the notebooks."""
    return machine_preset()


def add_settings_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """--config, --preset, --print-config, --help-all, then one flag per setting not in `skip`, in one group per
    concern. `--help` shows each setting's first sentence; rarely changed settings and whole descriptions are
    left to `--help-all`."""
    start = default_preset()
    names = [name for names in group_fields().values() for name in names if name not in skip]
    group = parser.add_argument_group(
        "settings", "The preset, then --config FILE, then the flags below. [cpu: 256, paper: 448, ...]\n"
                    f"is a setting's value under each preset (without --preset: {start}); one value: the\n"
                    "same in all. What they mean: docs/method.md; what they change: docs/benchmarks.md.")
    group.add_argument("--config", metavar="FILE",
                       help="settings from a YAML or JSON file (a run's config.json, or --print-config's output)")
    group.add_argument("--preset", metavar="NAME", choices=sorted(PRESETS),
                       help=f"the values to start from: {', '.join(PRESETS)} [{start}]")
    group.add_argument("--print-config", nargs="?", const="json", choices=PRINT_FORMATS, metavar="json|yaml",
                       help="print the settings this command would use (a run's config.json) and exit")
    add_help_all(group, sum(name in RARELY_CHANGED for name in names))
    presets = {p: preset(p) for p in (start, *(p for p in PRESETS if p != start))}
    for concern, fields in group_fields().items():
        concern_group = parser.add_argument_group(f"{concern} settings")
        for name in fields:
            if name not in skip:
                _add_setting(concern_group, name, presets)


def _add_setting(group, name: str, presets: dict[str, Config]) -> None:
    doc = field_docs().get(name, "")
    values = f" [{preset_values(name, presets)}]"
    doc = doc.removesuffix(".")
    if field_types()[name] is bool:
        action = group.add_argument(flag(name), dest=f"cfg_{name}", action=argparse.BooleanOptionalAction,
                                    default=None)
    else:
        action = group.add_argument(flag(name), dest=f"cfg_{name}", default=None, metavar=metavar(name))
    with_help(action, first_sentence(doc) + values, doc + values, hidden=name in RARELY_CHANGED)


def metavar(name: str) -> str:
    """The flag's value as its type: INT, FLOAT, TEXT, JSON, INT,INT,... (or a name from METAVARS)."""
    if name in METAVARS:
        return METAVARS[name]
    kind = field_types()[name]
    if typing.get_origin(kind) is tuple:
        items = [a for a in typing.get_args(kind) if a is not Ellipsis]
        if len(items) < len(typing.get_args(kind)):
            return f"{items[0].__name__.upper()},..."
        return ",".join(a.__name__.upper() for a in items)
    return {int: "INT", float: "FLOAT", dict: "JSON"}.get(kind, "TEXT")


def preset_values(name: str, presets: dict[str, Config]) -> str:
    """"cpu: 256, paper: 448, ci: 128" (the first preset is the one that applies), or "0.0002" when the presets
    agree."""
    def shown(value) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return text or "''"

    values = {p: shown(getattr(cfg, name)) for p, cfg in presets.items()}
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{p}: {v}" for p, v in values.items())


def first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (not e.g. or i.e.), without it; or the whole text."""
    return re.split(r"(?<!e\.g)(?<!i\.e)(?<!\.)\.(?:\s+|$)", text, maxsplit=1)[0]


def settings_from_args(args: argparse.Namespace, **fixed) -> Config:
    """The preset, then --config FILE (settings it lacks keep the preset's), then the flags typed, then `fixed`."""
    flags = {}
    for key, value in vars(args).items():
        if key.startswith("cfg_") and value is not None:
            name = key[4:]
            flags[name] = parse_value(name, value) if isinstance(value, str) else value
    start = args.preset or default_preset()
    if args.config:
        return Config.from_json(args.config, missing=preset(start).to_dict()).replace(**flags, **fixed)
    return preset(start, **flags, **fixed)


def print_settings(cfg: Config, fmt: str) -> int:
    """--print-config: the settings as a run folder's config.json holds them, or as YAML; exit status 0."""
    print(yaml_text(cfg.to_dict()) if fmt == "yaml" else cfg.to_json() + "\n", end="")
    return 0


def switch_spelling(argv: list[str]) -> list[str]:
    """Switches typed with a value, `--amp false` or `--amp=off` (older scripts' spelling), as `--no-amp`."""
    switches = {flag(name) for name, kind in field_types().items() if kind is bool}
    words = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
    out, i = [], 0
    while i < len(argv):
        token, following = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        name, _, value = token.partition("=")
        if name in switches and value.lower() in words:
            out.append(name if words[value.lower()] else f"--no-{name[2:]}")
        elif token in switches and following is not None and following.lower() in words:
            out.append(token if words[following.lower()] else f"--no-{token[2:]}")
            i += 1
        else:
            out.append(token)
        i += 1
    return out
