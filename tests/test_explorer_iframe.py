"""The explorer's histogram as Colab gets it (adnkit.explain.explorer.plot_output): an iframe set through innerHTML,
as a widget's HTML is, draws the figure in headless Chromium (marked `browser`; skipped without Chromium,
chromedriver or Selenium). plotly.js is inlined here, the machine being offline; Colab loads it from the CDN."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from adnkit.explain.explorer import plot_output
from adnkit.figures.plots import score_histogram

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ADNKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ADNKIT_CHROMEDRIVER", "/usr/bin/chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the environment
    webdriver = None


def _missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"no browser: {path} not found (apt-get install -y chromium chromium-driver)"
    return None


def test_the_iframe_draws_the_histogram_when_inserted_as_widget_html(tmp_path):
    if reason := _missing():
        pytest.skip(reason)
    labels = np.array([0] * 20 + [1] * 10)
    scores = np.concatenate([np.linspace(0.5, 1.5, 20), np.linspace(1.2, 3.0, 10)])
    figure = score_histogram(labels, scores, threshold=1.3, highlight=("x.png", 2.0), title="test scores")
    snippet = plot_output(figure, colab=True, plotlyjs=True).data
    page = tmp_path / "widget.html"
    page.write_text("<html><body><div id='widget'></div><script>"
                    f"document.getElementById('widget').innerHTML = {json.dumps(snippet)};</script></body></html>")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(page.as_uri())
        driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.main-svg"))
        bars = driver.find_elements(By.CSS_SELECTOR, "g.trace.bars path")
        assert len(bars) > 0  # the histogram's bars, drawn by plotly.js inside the iframe
    finally:
        driver.quit()
