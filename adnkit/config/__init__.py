"""Every setting of a run (Config) and the named presets."""

from adnkit.config.settings import PRESETS, Config, preset

__all__ = ["PRESETS", "Config", "preset"]
