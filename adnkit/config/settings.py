"""Config: every setting of a run, the flat combination of the groups by concern (adnkit/config/data.py, model.py,
training.py, evaluation.py, speed.py), and preset(name) to start from a named table (adnkit.config.presets).

Any field can be overridden (`preset("cpu", image_size=256)`, or `--image-size 256` on the command line), and a
Config round-trips through JSON, one flat object, so that `config.json` in a run folder reproduces the run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path

from adnkit.attention.sites import ATTENTION_SITES
from adnkit.config.data import DataSettings
from adnkit.config.evaluation import EvaluationSettings
from adnkit.config.groups import GROUPS, field_docs, field_group, field_types
from adnkit.config.model import ModelSettings
from adnkit.config.presets import PRESETS
from adnkit.config.speed import SpeedSettings
from adnkit.config.training import TrainingSettings
from adnkit.config.values import check_json_value, parse_value, read_settings_file
from adnkit.core.errors import ConfigError

__all__ = ["Config", "PRESETS", "preset", "field_docs", "field_group", "field_types", "parse_value",
           "check_json_value"]


@dataclass
class Config(DataSettings, ModelSettings, TrainingSettings, EvaluationSettings, SpeedSettings):
    """All settings of one run. Field names double as CLI flags (`image_size` -> `--image-size`); which group a
    field belongs to: `field_group(name)`."""

    def __post_init__(self) -> None:
        ModelSettings.normalize(self)
        TrainingSettings.normalize(self)
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError (one line, naming the setting and the fix) for impossible settings: each group's
        own checks, then those that join two groups."""
        for group in GROUPS.values():
            group.validate(self)
        if self.select == "val" and self.val_fraction == 0:
            raise ConfigError("select=val picks the model on the validation split, but val_fraction is 0; "
                              "use --val-fraction 0.1, or --select last")
        if self.embedding_norm == "batch" and self.batch_size * self.train_transforms < 2:
            raise ConfigError(
                f"embedding_norm='batch' needs at least 2 rows per training step for batch statistics, but "
                f"batch_size={self.batch_size} x train_transforms={self.train_transforms} gives 1; use "
                "--batch-size 2 or more, or --embedding-norm none"
            )

    # --- (de)serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known settings are listed by `adnkit train --help`")
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path, missing: dict | None = None) -> Config:
        """A Config from a JSON file (or YAML, for .yaml and .yml), checked field by field: an unknown or mistyped
        setting is a one-line error naming the file, the setting and the fix. `missing` gives values for settings
        the file lacks (run folders pass adnkit.runs.folder.LEGACY_DEFAULTS, `--config` the preset's); the rest
        take the Config defaults."""
        path = Path(path)
        values = read_settings_file(path)
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object of settings; retrain to rewrite it")
        types = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; remove it from the file (known settings: "
                              "`adnkit train --help`)")
        checked = {name: check_json_value(name, value, types[name], str(path), f"fix it in {path.name}")
                   for name, value in values.items()}
        filled = {k: v for k, v in (missing or {}).items() if k not in checked}
        try:
            return cls.from_dict({**cls().to_dict(), **filled, **checked})
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def replace(self, **overrides) -> Config:
        """A copy with some fields changed (validated). Positions given without a site drop this config's
        attention_site (explicit positions win); a site given without positions sets them."""
        values = self.to_dict()
        if "attention_positions" in overrides and "attention_site" not in overrides:
            values["attention_site"] = ""
        if "attention_site" in overrides and "attention_positions" not in overrides:
            values["attention_positions"] = ATTENTION_SITES.get(overrides["attention_site"], self.attention_positions)
        return Config.from_dict({**values, **overrides})


def preset(name: str = "paper", **overrides) -> Config:
    """The named preset with any fields overridden: preset("cpu", attention="se")."""
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r} is unknown; use one of: {', '.join(PRESETS)}")
    return Config.from_dict({**Config().to_dict(), **PRESETS[name], **overrides})
