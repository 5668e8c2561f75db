"""The explanation methods by name, and the check that a map is not blank.

Names: the class-activation maps of pytorch-grad-cam ("gradcam", "gradcam++", "xgradcam", "layercam",
"hirescam") and DifferNet's own gradient map ("gradients"). A blank map (no gradient reached the layer, a
constant or non-finite map) is a `BlankMapError`, or with `on_blank="warn"` a loud `BlankMapWarning`, never a
silently empty picture.
"""

from __future__ import annotations

import warnings

import numpy as np

from adnkit.core.errors import AdnkitError, ConfigError

GRADIENT_METHOD = "gradients"
_CAM_CLASS_NAMES = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
}
_METHOD_ALIASES = {"grad-cam": "gradcam", "gradcampp": "gradcam++", "gradcamplusplus": "gradcam++",
                   "grad-cam++": "gradcam++", "gradient": "gradients", "differnet": "gradients",
                   "x-gradcam": "xgradcam", "layer-cam": "layercam"}
METHODS = (*_CAM_CLASS_NAMES, GRADIENT_METHOD)
"""Every method name explain_image accepts."""


class BlankMapError(AdnkitError):
    """A map came out blank (no gradient reached the layer, or constant / non-finite values)."""


class BlankMapWarning(UserWarning):
    """A map came out constant; it is returned as zeros (on_blank="warn")."""


EXPLAIN_INSTALL = "pip install 'adnkit[explain]'"


def import_grad_cam():
    """The pytorch_grad_cam package (the `explain` extra; imported on first use: it pulls opencv and matplotlib),
    or a one-line AdnkitError with the install command."""
    try:
        import pytorch_grad_cam
    except ImportError:
        raise AdnkitError(f"explanations need pytorch-grad-cam, which is not installed; install it with "
                          f"{EXPLAIN_INSTALL}") from None
    return pytorch_grad_cam


def cam_methods() -> dict[str, type]:
    """name -> pytorch-grad-cam class."""
    grad_cam = import_grad_cam()
    return {name: getattr(grad_cam, cls) for name, cls in _CAM_CLASS_NAMES.items()}


def canonical_method(method: str) -> str:
    """Normalise a method name ("GradCAM++" -> "gradcam++"); ConfigError for unknown ones."""
    key = str(method).strip().lower().replace("_", "")
    key = _METHOD_ALIASES.get(key, key)
    if key not in METHODS:
        raise ConfigError(f"explanation method {method!r} is unknown; use one of: {', '.join(METHODS)}")
    return key


def is_informative(m: np.ndarray) -> bool:
    """False for an empty, non-finite or constant map (a blank picture)."""
    m = np.asarray(m)
    if not m.size or not np.isfinite(m).all():
        return False
    return float(m.max() - m.min()) > 1e-12 * max(1.0, float(np.abs(m).max()))


def check_map(raw: np.ndarray, what: str, on_blank: str, hint: str = "") -> bool:
    """True if `raw` is an informative map; else raise BlankMapError or warn (on_blank="warn") and False."""
    raw = np.asarray(raw)
    if is_informative(raw):
        return True
    if raw.size and np.isfinite(raw).all():
        problem = f"{what} is constant ({float(raw.flat[0]):.3g} everywhere)"
    else:
        problem = f"{what} has non-finite values"
    message = f"{problem}{'; ' + hint if hint else ''}"
    if on_blank == "warn":
        warnings.warn(f"BLANK MAP: {message}", BlankMapWarning, stacklevel=3)
        return False
    raise BlankMapError(message)
