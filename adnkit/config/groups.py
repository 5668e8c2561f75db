"""The settings grouped by concern (data, model, training, evaluation, speed): which group a setting belongs to,
each setting's type and docstring, read from the group classes, and which settings are rarely changed (the
command line's short help leaves them to --help-all)."""

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

# Settings that reproduce a paper's detail or tune one block, one optimiser or one machine: every command takes
# them, `--help` leaves them out and `--help-all` lists them.
RARELY_CHANGED: frozenset[str] = frozenset({
    "elpv_defect_threshold", "elpv_test_good_fraction", "min_image_side", "val_min_images",
    "se_reduction", "cbam_reduction", "cbam_kernel_size", "cbam_residual", "eca_kernel_size", "coord_reduction",
    "pretrained", "flow_hidden_layers", "clamp",
    "betas", "eps", "weight_decay", "attention_lr_scale",
    "random_test_rotations", "threshold_quantile", "bootstrap_resamples",
    "amp", "channels_last", "num_workers", "optimizer_impl", "flow_precision", "cpu_bf16_backbone", "compile_flow",
})


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
