"""Any Config field as a benchmark axis: `adnkit bench ... --grid FIELD=V1,V2 [--grid FIELD=...]`.

    --grid train_attention=false,true            values separated by ','
    --grid attention_positions='1,4,11|2,5,12'   a tuple field: values separated by '|', items by ','
    --grid attention_site=relu,pool --grid embedding_norm=none,batch

Each value is parsed with adnkit.config.settings.parse_value, so it has the field's type. The variants of a bench are
attention x the product of the grid's values (in the order given); each variant is a dict
{"attention": ..., FIELD: value, ...}. A list of such dicts may also be given directly (benchmark's `grid`),
for designs that are not a full product (adnkit.experiments.study). Run folders are named by the grid values of their
variant: `elpv-mono-se-attention_site_pool-train_attention_true-seed0`; a bench without a grid keeps the
names it always had.
"""

from __future__ import annotations

import difflib
import itertools
import typing
from collections.abc import Iterable, Mapping, Sequence

from adnkit.config.settings import field_types, parse_value
from adnkit.core.errors import ConfigError

# The matrix's own axes.
NOT_AXES = {"data": "--data", "attention": "--attention", "seed": "--seeds"}

Grid = Mapping[str, Sequence] | Sequence[Mapping]


def _is_tuple(name: str) -> bool:
    return typing.get_origin(field_types()[name]) is tuple


def parse_grid(items: Iterable[str]) -> dict[str, list]:
    """['FIELD=V1,V2', ...] -> {field: [value, ...]} (typed values, repeats dropped, order kept).

    A field may be written with dashes (train-attention). Unknown fields, the matrix's own axes, a value of the
    wrong type, an empty list or a field given twice are one-line ConfigErrors naming the fix."""
    types = field_types()
    grid: dict[str, list] = {}
    for item in items:
        name, sep, text = str(item).partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ConfigError(f"--grid {item!r}: write FIELD=V1,V2, e.g. --grid train_attention=false,true")
        if name in NOT_AXES:
            raise ConfigError(f"--grid {name}=...: {name} is already an axis of the bench; use {NOT_AXES[name]}")
        if name not in types:
            close = difflib.get_close_matches(name, list(types), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"--grid {item!r}: {name} is not a setting; {hint}settings are listed by `adnkit bench --help`"
            )
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; list all its values in one --grid {name}=V1,V2")
        sep_values = "|" if _is_tuple(name) else ","
        texts = [t.strip() for t in text.split(sep_values) if t.strip()]
        if not texts:
            raise ConfigError(f"--grid {item!r}: no values; write --grid {name}=V1{sep_values}V2")
        values = []
        for t in texts:
            try:
                value = parse_value(name, t)
            except ConfigError:
                kind = types[name]
                expected = "a tuple such as 1,4,11 (values separated by '|')" if _is_tuple(name) else \
                    getattr(kind, "__name__", str(kind))
                raise ConfigError(f"--grid {name}: value {t!r} is not {expected}") from None
            if value not in values:
                values.append(value)
        grid[name] = values
    return grid


def variants(attentions: Iterable[str], grid: Grid | None = None) -> list[dict]:
    """The bench's variants: [{"attention": a, **grid values}] for attention x the product of a dict grid, or
    the given list of dicts (each holding "attention", or crossed with `attentions` when it does not)."""
    attentions = list(dict.fromkeys(str(a) for a in attentions))
    if not grid:
        return [{"attention": a} for a in attentions]
    if isinstance(grid, Mapping):
        names = list(grid)
        combos = [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]
        return [{"attention": a, **combo} for a in attentions for combo in combos]
    out = []
    for cell in grid:
        cell = dict(cell)
        if "attention" in cell:
            out.append(cell)
        else:
            out += [{"attention": a, **cell} for a in attentions]
    return out


def grid_columns(variant_list: Sequence[Mapping]) -> list[str]:
    """The grid fields of a list of variants (everything but attention), in first-seen order."""
    return list(dict.fromkeys(k for v in variant_list for k in v if k != "attention"))


def value_text(value) -> str:
    """A value as the command line writes it: true/false, 1,4,11 for tuples, str otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(value_text(v) for v in value)
    return str(value)


def name_suffix(variant: Mapping) -> str:
    """'-FIELD_VALUE-...' for the grid values of a variant ('' without any): tuples written with dots, so that
    a run folder name reads attention_positions_2.5.12; an empty value reads 'default'."""
    parts = []
    for name, value in variant.items():
        if name == "attention":
            continue
        text = value_text(value).replace(",", ".") or "default"
        parts.append(f"{name}_{text}")
    return "".join(f"-{p}" for p in parts)


def check_fields(variant_list: Sequence[Mapping]) -> None:
    """Every key of every variant must be a Config field (a list grid is built in code, not parsed)."""
    types = field_types()
    for v in variant_list:
        bad = [k for k in v if k not in types or k in ("data", "seed")]
        if bad:
            raise ConfigError(f"grid variant {dict(v)}: {bad} cannot vary here; grid fields are Config settings "
                              "other than data and seed")
