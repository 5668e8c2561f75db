"""Debian's Chromium and chromedriver for the browser tests (test_browser.py, test_explorer_iframe.py): where they
are, why a test must skip without them, and a headless driver started the same way for each."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = os.environ.get("ADNKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ADNKIT_CHROMEDRIVER", "/usr/bin/chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - depends on the environment
    webdriver = None


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"no browser: {path} not found (apt-get install -y chromium chromium-driver)"
    return None


def headless_chromium(*arguments: str):
    """A selenium driver of headless Chromium (sandbox, /dev/shm and GPU off), with `arguments` added."""
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", *arguments):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
