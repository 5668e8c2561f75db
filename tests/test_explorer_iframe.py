"""The explorer's histogram as Colab gets it (adnkit.explain.explorer.plot_output): an iframe set through innerHTML,
as a widget's HTML is, draws the figure in headless Chromium (marked `browser`; skipped without Chromium,
chromedriver or Selenium). plotly.js is inlined here, the machine being offline; Colab loads it from the CDN."""

from __future__ import annotations

import json

import numpy as np
import pytest
from headless_chromium import headless_chromium, missing

from adnkit.explain.explorer import plot_output
from adnkit.figures.plots import score_histogram

pytestmark = pytest.mark.browser

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the environment
    pass  # headless_chromium.missing() says so


def test_the_iframe_draws_the_histogram_when_inserted_as_widget_html(tmp_path):
    if reason := missing():
        pytest.skip(reason)
    labels = np.array([0] * 20 + [1] * 10)
    scores = np.concatenate([np.linspace(0.5, 1.5, 20), np.linspace(1.2, 3.0, 10)])
    figure = score_histogram(labels, scores, threshold=1.3, highlight=("x.png", 2.0), title="test scores")
    snippet = plot_output(figure, colab=True, plotlyjs=True).data
    page = tmp_path / "widget.html"
    page.write_text("<html><body><div id='widget'></div><script>"
                    f"document.getElementById('widget').innerHTML = {json.dumps(snippet)};</script></body></html>")
    driver = headless_chromium()
    try:
        driver.get(page.as_uri())
        driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.main-svg"))
        bars = driver.find_elements(By.CSS_SELECTOR, "g.trace.bars path")
        assert len(bars) > 0  # the histogram's bars, drawn by plotly.js inside the iframe
    finally:
        driver.quit()
