"""Attention blocks by name: the built-ins, blocks registered in this process, and "package.module:Class" names.

    register_attention("mygate", MyGate)     # attention="mygate" in this process: Config, DifferNet, bench
    attention="mypackage.blocks:MyGate"      # imported on first use, and only when allowed (below)
    make_attention("se", 64, reduction=2)    # one block for a slot of 64 channels

Import policy: adnkit never imports a module because a run folder or a config file names it. A module named in
`attention` is imported only when the user allowed it: allow_import("mypackage.blocks"), the environment variable
ADNKIT_ALLOW_IMPORT=mod1,mod2, or `--allow-import MODULE` on the command line (`adnkit train` or `bench` with
`--attention mod:Class` typed there allows mod). Allowing a package allows its submodules; adnkit's own modules
need no allowance. A refused import is a one-line AdnkitError that names the fix.

An entry maps a block's constructor options to Config fields (the built-ins' se_reduction, cbam_*,
eca_kernel_size, coord_reduction); block_options(cfg) gathers them, then cfg.attention_options. What a block
must provide: adnkit.attention.protocol.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass

from adnkit.attention.blocks import CBAM, CoordinateAttention, EfficientChannelAttention, SqueezeExcitation
from adnkit.core.errors import AdnkitError

ALLOW_ENV = "ADNKIT_ALLOW_IMPORT"


@dataclass
class _Entry:
    target: type | str  # the class, or "module:Class" until first use (a user's module, when allowed)
    options: dict[str, str]  # constructor option -> Config field


_BUILT_IN = {
    "se": _Entry(SqueezeExcitation, {"reduction": "se_reduction"}),
    "cbam": _Entry(CBAM, {"reduction": "cbam_reduction", "kernel_size": "cbam_kernel_size",
                          "residual": "cbam_residual"}),
    "eca": _Entry(EfficientChannelAttention, {"kernel_size": "eca_kernel_size"}),
    "coord": _Entry(CoordinateAttention, {"reduction": "coord_reduction"}),
}
BUILT_IN_ATTENTION = tuple(_BUILT_IN)
_entries: dict[str, _Entry] = dict(_BUILT_IN)
_allowed: set[str] = set()
_checked: set[tuple] = set()


def register_attention(name: str, cls: type, options: dict[str, str] | None = None) -> None:
    """Make `cls` the attention block called `name`: Config(attention=name) builds `cls(channels, **options)` at
    every slot. `options` maps constructor options to Config fields, e.g. {"reduction": "se_reduction"}
    (default: the class attribute `config_options`, else none); cfg.attention_options adds any others.
    Registering a name again replaces it (a notebook cell run twice); the built-ins stay as they are."""
    if not isinstance(name, str) or not name or any(c.isspace() for c in name) or name == "none":
        raise AdnkitError(f"register_attention({name!r}, ...): give a name without spaces, other than 'none'")
    if name in _BUILT_IN:
        raise AdnkitError(f"register_attention({name!r}, ...): {name!r} is a built-in block; choose another name")
    if not isinstance(cls, type):
        raise AdnkitError(f"register_attention({name!r}, {cls!r}): give the block's class, not an instance")
    options = dict(getattr(cls, "config_options", {}) if options is None else options)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
        raise AdnkitError(f"register_attention({name!r}, ...): options maps constructor options to Config field "
                          "names, e.g. {'reduction': 'se_reduction'}")
    _entries[name] = _Entry(cls, options)
    _forget_checks(name)


def unregister_attention(name: str) -> None:
    """Forget a block registered in this process (the built-ins stay)."""
    if name in _BUILT_IN:
        raise AdnkitError(f"unregister_attention({name!r}): the built-in blocks stay registered")
    _entries.pop(name, None)
    _forget_checks(name)


def attention_names() -> list[str]:
    """The registered blocks in registry order: the built-ins, then the others as registered or first imported."""
    return list(_entries)


def is_module_path(name: str) -> bool:
    """Whether `name` names a block as "package.module:Class"."""
    return ":" in name


def module_of(name: str) -> str:
    """The module part of "package.module:Class"."""
    return name.partition(":")[0]


def allow_import(*modules: str) -> None:
    """Let adnkit import these modules when `attention` names them ("mypackage.blocks"; a package allows its
    submodules). Also extends ADNKIT_ALLOW_IMPORT in this process's environment, so that the worker processes it
    starts (bench's Ray tasks) are allowed as well."""
    for module in modules:
        if not module or not all(part.isidentifier() for part in module.split(".")):
            raise AdnkitError(f"allow_import({module!r}): not a module name; write it as package.module")
        _allowed.add(module)
    if modules:
        os.environ[ALLOW_ENV] = ",".join(sorted(allowed_imports()))


def allowed_imports() -> set[str]:
    """The modules allowed by allow_import and by ADNKIT_ALLOW_IMPORT."""
    listed = {m.strip() for m in os.environ.get(ALLOW_ENV, "").split(",") if m.strip()}
    return _allowed | listed


def import_allowed(module: str) -> bool:
    """Whether adnkit may import `module` for a block: adnkit's own, or allowed (itself or a package above it)."""
    trusted = {"adnkit", *allowed_imports()}
    return any(module == m or module.startswith(f"{m}.") for m in trusted)


def block_class(name: str) -> type:
    """The class of the block called `name`. An unknown plain name is a KeyError; a "module:Class" name that
    cannot be imported (not allowed, missing, no such class) is a one-line AdnkitError."""
    entry = _entries.get(name)
    if entry is None:
        if not is_module_path(name):
            raise KeyError(unknown_message(name))
        cls = _load(name)
        _entries[name] = _Entry(cls, dict(getattr(cls, "config_options", {})))
        return cls
    if isinstance(entry.target, str):
        entry.target = _load(entry.target)
    return entry.target


def unknown_message(name: str) -> str:
    return (f"attention={name!r} is unknown; use one of: none, {', '.join(_entries)}, or a block of your own "
            "(adnkit.register_attention(name, Class) first, or name it as package.module:Class)")


def declared_options(name: str) -> dict[str, str]:
    """{constructor option: Config field} of the block called `name`."""
    block_class(name)
    return dict(_entries[name].options)


def block_options(cfg) -> dict:
    """The constructor options of cfg.attention's block: its Config-field options, then cfg.attention_options
    (which wins where both name the same option)."""
    if cfg.attention == "none":
        return {}
    declared = {option: getattr(cfg, field) for option, field in declared_options(cfg.attention).items()}
    return {**declared, **cfg.attention_options}


def make_attention(name: str, channels: int, **options):
    """Build the block called `name` for `channels` channels; unknown options are an error, not ignored."""
    return block_class(name)(channels, **options)


def check_block(name: str, options: dict, channels: int) -> None:
    """Build the block once with `options` for `channels` channels, so that a bad option fails in one line before
    a run starts. Each combination is built once per process. The build draws from torch's global random
    numbers; adnkit's models and training draw from their own seeded generators."""
    key = (name, json.dumps(options, sort_keys=True, default=repr), channels)
    if key in _checked:
        return
    cls = block_class(name)
    try:
        cls(channels, **options)
    except Exception as err:  # the block's own code: whatever it raises is a bad option for the user to fix
        raise AdnkitError(f"attention={name!r} with options {options}: {cls.__name__}({channels}, ...) fails "
                          f"({type(err).__name__}: {_first_line(err)}); fix --attention-options or the block's "
                          "settings") from None
    _checked.add(key)


def _forget_checks(name: str) -> None:
    _checked.difference_update({key for key in _checked if key[0] == name})


def _load(path: str) -> type:
    """The class named "module:Class", imported only when allowed (see the module docstring)."""
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise AdnkitError(f"attention={path!r}: write a block of your own as package.module:Class")
    if not import_allowed(module):
        raise AdnkitError(
            f"attention={path!r} names module {module!r}, which adnkit imports only when you allow it: add "
            f"--allow-import {module} (or set {ALLOW_ENV}={module}, or call allow_import({module!r})), or register "
            "the block first with adnkit.register_attention")
    try:
        loaded = importlib.import_module(module)
    except Exception as err:  # the user's module: any error while importing it is theirs to fix
        raise AdnkitError(f"attention={path!r}: importing {module!r} failed ({type(err).__name__}: "
                          f"{_first_line(err)}); put its folder on PYTHONPATH or fix the module") from None
    cls = getattr(loaded, attr, None)
    if not isinstance(cls, type):
        raise AdnkitError(f"attention={path!r}: module {module!r} has no class {attr!r}; check the name after ':'")
    return cls


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "no message"
