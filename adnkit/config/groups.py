"""The settings grouped by concern (data, model, training, evaluation, speed): which group a setting belongs to,
and each setting's type and docstring, read from the group classes."""

from __future__ import annotations

import ast
import functools
import inspect
import typing
from dataclasses import fields

from adnkit.config.data import DataSettings
from adnkit.config.evaluation import EvaluationSettings
from adnkit.config.model import ModelSettings
from adnkit.config.speed import SpeedSettings
from adnkit.config.training import TrainingSettings
from adnkit.core.errors import ConfigError

GROUPS: dict[str, type] = {
    "data": DataSettings,
    "model": ModelSettings,
    "training": TrainingSettings,
    "evaluation": EvaluationSettings,
    "speed": SpeedSettings,
}


@functools.lru_cache(maxsize=1)
def group_fields() -> dict[str, tuple[str, ...]]:
    """{group: its settings in the order they are declared}."""
    return {group: tuple(f.name for f in fields(cls)) for group, cls in GROUPS.items()}


def field_group(name: str) -> str:
    """The group ("data", "model", "training", "evaluation" or "speed") that setting `name` belongs to."""
    for group, names in group_fields().items():
        if name in names:
            return group
    raise ConfigError(f"{name!r} is not a setting; settings are listed by `adnkit train --help`")


@functools.lru_cache(maxsize=1)
def field_types() -> dict[str, type]:
    """Each setting's plain type (resolved from the annotations), group by group, for the command line's parser."""
    types = {}
    for cls in GROUPS.values():
        hints = typing.get_type_hints(cls)
        types.update({f.name: hints[f.name] for f in fields(cls)})
    return types


@functools.lru_cache(maxsize=1)
def field_docs() -> dict[str, str]:
    """Each setting's docstring (the string right below it in its group's class body), for --help texts."""
    docs = {}
    for cls in GROUPS.values():
        body = ast.parse(inspect.getsource(cls)).body[0].body
        for node, after in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs
