"""The last line of a test run: what was skipped, why, and how to run it (tests/conftest.py installs the hook).

    skipped: 3 need a CUDA GPU (bash benchmarks/gpu_check.sh runs them), 2 need Chromium (apt-get install
    chromium chromium-driver, or bash .ci/run)

`make test` passes on a machine without a GPU or a browser; this line keeps those skips from passing unseen.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

# (pattern in the skip reason, what the skipped tests need and how to run them); the first match counts.
KINDS = (
    (r"has a GPU", "check what happens without a GPU (run them on a machine without one)"),
    (r"CUDA|GPU", "need a CUDA GPU (bash benchmarks/gpu_check.sh runs them)"),
    (r"chromium|browser|selenium", "need Chromium (apt-get install chromium chromium-driver, or bash .ci/run)"),
    (r"onnx|export extra", "need the export extra (pip install -e '.[export]')"),
    (r"\bray\b", "need Ray (pip install -e '.[ray]')"),
    (r"elpv", "need the data extra (pip install -e '.[data]')"),
)


def skip_line(reasons: list[str]) -> str:
    """One line that counts the skips by what they need: "skipped: nothing", or "skipped: 3 need a CUDA GPU (...),
    1 other (REASON)"."""
    if not reasons:
        return "skipped: nothing"
    counts = Counter()
    for reason in reasons:
        kind = next((text for pattern, text in KINDS if re.search(pattern, reason, re.I)), None)
        counts[kind or f"other ({reason})"] += 1
    return "skipped: " + ", ".join(f"{n} {kind}" for kind, n in counts.most_common())


def skip_reason(report) -> str:
    """The reason a skipped test report gives (pytest stores it as (path, line, "Skipped: reason"))."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After pytest's own summary (this wrapper is the outermost): the skip line."""
    yield
    reports = terminalreporter.stats.get("skipped", [])
    terminalreporter.write_line(skip_line([skip_reason(r) for r in reports]))
