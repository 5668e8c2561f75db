"""The range and choice checks the settings groups share, each a one-line ConfigError naming the setting and
the flag that fixes it."""

from __future__ import annotations

from adnkit.core.errors import ConfigError


def flag(name: str) -> str:
    """The command-line flag of a setting: image_size -> --image-size."""
    return "--" + name.replace("_", "-")


def require_at_least(settings, names: tuple[str, ...], minimum: int = 1, suggest: int | None = None) -> None:
    """Each of `names` must be at least `minimum`."""
    for name in names:
        value = getattr(settings, name)
        if value < minimum:
            raise ConfigError(f"{name}={value}: must be at least {minimum}; use {flag(name)} "
                              f"{minimum if suggest is None else suggest} or more")


def require_choice(settings, name: str, allowed: tuple[str, ...]) -> None:
    """The setting must be one of `allowed`."""
    value = getattr(settings, name)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: use {flag(name)} {' | '.join(allowed)}")
