"""Small text helpers used by the terminal summary, the HTML report and file names.

- `pm(mean, std)`: "94.90 +- 1.20", a fraction as mean +- std in percent (or points), "-" when missing.
- `safe_name(text)`: a file-name-safe form of a label (run, category, method, image stem).
"""

from __future__ import annotations

import math
import re


def _missing(value) -> bool:
    """None or NaN (float, numpy or pandas)."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def pm(mean, std=None, *, scale: float = 100.0, signed: bool = False, sep: str = " +- ") -> str:
    """`scale * mean` with two decimals (a sign with `signed`), then `sep` and `scale * std` when std is given;
    "-" for a missing mean. The HTML report passes sep=" &plusmn; "."""
    if _missing(mean):
        return "-"
    text = f"{scale * mean:+.2f}" if signed else f"{scale * mean:.2f}"
    if not _missing(std):
        text += f"{sep}{scale * std:.2f}"
    return text


def safe_name(text) -> str:
    """`text` as a file-name part: each run of characters outside [A-Za-z0-9._+-] becomes one '_', leading
    and trailing '_' are dropped; "x" if nothing is left ("my toy/2" -> "my_toy_2", "gradcam++" stays)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).strip("_") or "x"
