"""The ipywidgets explorer, driven headless through its plain methods and through its widgets' values."""

from __future__ import annotations

import html
import io
import re

import IPython.display
import ipywidgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

import adnkit.explain.explorer as W
from adnkit.core.errors import ConfigError, DataError

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # every test needs two trained runs


@pytest.fixture(scope="module")
def explorer(explain_runs):
    return W.AnomalyExplorer({"DifferNet": explain_runs["none"], "SE": explain_runs["se"]}, device="cpu")


def _scores(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "scores.csv")


def test_starts_on_the_most_anomalous_image_at_the_stored_threshold(explorer, explain_runs):
    table = _scores(explain_runs["none"])
    st = explorer.state
    assert st.run == "DifferNet" and explorer.selected == ["DifferNet", "SE"]
    assert st.image == table.loc[table["score"].idxmax(), "path"]
    assert st.threshold == pytest.approx(explorer.runs["DifferNet"].threshold.value)
    assert isinstance(explorer.widget, ipywidgets.VBox)
    labels = [label for label, _ in explorer.w_image.options]
    shown = [float(label.split(" | ")[0]) for label in labels]
    assert shown == sorted(shown, reverse=True) and len(labels) == len(table)
    assert "synthetic/explain" in explorer.w_category.value


def test_decision_flips_exactly_at_the_score(explorer, explain_runs):
    table = _scores(explain_runs["none"])
    row = table[table["label"] == 0].iloc[0]
    st = explorer.select_image(row["path"])
    score = st.score
    assert score == pytest.approx(row["score"])
    assert explorer.set_threshold(np.nextafter(score, -np.inf)).decision == "anomalous"
    assert explorer.set_threshold(score).decision == "anomalous"  # anomalous when score >= threshold
    assert explorer.set_threshold(np.nextafter(score, np.inf)).decision == "good"
    assert explorer.set_threshold(score - 1e-3).decision == "anomalous"
    assert "ANOMALOUS" in explorer.state.text and "ground truth: good" in explorer.state.text
    # the slider drives the same logic
    explorer.w_threshold.value = score + 1e-3
    assert explorer.state.decision == "good" and explorer.state.threshold == pytest.approx(score + 1e-3)
    # a threshold outside the slider's range widens it instead of being clamped
    far = float(table["score"].max()) * 10
    assert explorer.set_threshold(far).threshold == far and explorer.w_threshold.value == pytest.approx(far)
    explorer.reset_threshold()
    assert explorer.state.threshold == pytest.approx(explorer.runs["DifferNet"].threshold.value)


def test_histogram_marks_the_image_and_the_threshold(explorer, explain_runs):
    table = _scores(explain_runs["none"])
    path = table[table["label"] == 1]["path"].iloc[0]
    explorer.select_image(path)
    st = explorer.set_threshold(0.5 * float(table["score"].median()))
    fig = st.figure
    assert isinstance(fig, go.Figure)
    markers = [t for t in fig.data if isinstance(t, go.Scatter)]
    assert len(markers) == 1 and markers[0].x[0] == pytest.approx(st.score)
    assert any(getattr(s, "x0", None) == pytest.approx(st.threshold) for s in fig.layout.shapes)
    hist_total = sum(len(t.x) for t in fig.data if isinstance(t, go.Histogram))
    assert hist_total == len(table)


def test_overlays_are_pngs_of_the_image(explorer, explain_runs):
    path = _scores(explain_runs["none"])["path"].iloc[-1]
    st = explorer.select_image(path)
    assert set(st.overlays) == {"DifferNet", "SE"}
    with Image.open(path) as img:
        size = img.size
    for png in st.overlays.values():
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(png)) as img:
            img.verify()
        assert Image.open(io.BytesIO(png)).size == size
    tiles = explorer.w_overlays.children
    assert len(tiles) == 2 and bytes(tiles[0].children[1].value) == st.overlays["DifferNet"]
    assert set(st.decisions.values()) <= {"good", "anomalous"}


def test_cams_are_cached_and_widgets_drive_the_methods(explorer, explain_runs, monkeypatch):
    table = _scores(explain_runs["none"])
    explorer.select_image(table["path"].iloc[3])
    calls = []
    real = W.explain_image
    monkeypatch.setattr(W, "explain_image", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    explorer.select_image(table["path"].iloc[3])
    explorer.set_threshold(1.0)
    assert calls == []  # same (run, image, method): from the cache
    explorer.w_image.value = table["path"].iloc[4]  # the dropdown calls select_image
    assert explorer.state.image == table["path"].iloc[4] and len(calls) == 2
    explorer.w_runs.value = ("SE",)  # primary switches: its threshold and its image list
    assert explorer.state.run == "SE" and list(explorer.state.overlays) == ["SE"]
    assert explorer.state.threshold == pytest.approx(explorer.runs["SE"].threshold.value)
    assert explorer.state.score == pytest.approx(
        _scores(explain_runs["se"]).set_index("path").loc[explorer.state.image, "score"])
    explorer.select_runs(["DifferNet", "SE"])


def test_method_switch_and_bad_input(explorer, explain_runs):
    st = explorer.set_method("gradients")
    assert explorer.w_method.value == "gradients" and set(st.overlays) == {"DifferNet", "SE"}
    explorer.set_method("gradcam")
    with pytest.raises(ConfigError):
        explorer.select_runs(["nope"])
    with pytest.raises(DataError):
        explorer.select_image(explain_runs["none"] / "no-such.png")
    with pytest.raises(DataError):
        W.AnomalyExplorer({"x": explain_runs["none"].parent / "missing"})


def test_headless_without_widgets(explain_runs):
    ex = W.AnomalyExplorer({"DifferNet": explain_runs["none"]}, device="cpu", build_widgets=False)
    assert ex.widget is None and ex.state.decision in ("good", "anomalous")
    assert W.decide(1.0, 1.0) == "anomalous" and W.decide(1.0 - 1e-12, 1.0) == "good"


def test_slider_reaches_past_every_score_and_the_text_says_the_rule(explorer, explain_runs):
    table = _scores(explain_runs["none"])
    explorer.select_runs(["DifferNet", "SE"])
    top = float(table["score"].max())
    low = float(table["score"].min())
    s = explorer.w_threshold
    assert s.max > top and s.min < low, (s.min, s.max, low, top)  # the most anomalous image can be made good
    explorer.select_image(table.loc[table["score"].idxmax(), "path"])
    s.value = s.max
    assert explorer.state.decision == "good" and " < threshold" in explorer.state.text
    st = explorer.set_threshold(explorer.state.score)  # equality: the rule is score >= threshold
    assert st.decision == "anomalous" and f"score {st.score:.4f} >= threshold" in st.text
    explorer.reset_threshold()


def test_dropdown_is_wide_and_the_threshold_is_explained_once(explorer, explain_runs):
    label = explorer.w_image.options[0][0]
    score, defect, name = label.split(" | ")
    assert float(score) > 0 and defect and name.endswith(".png")
    assert explorer.w_image.layout.width not in (None, "", "60%") and explorer.w_image.layout.min_width
    method = str(explorer.runs["DifferNet"].threshold.text)
    assert method and method in explorer.threshold_note()  # the run's own sentence, whatever the method
    assert method not in explorer.w_text.value  # not repeated under each decision
    assert html.escape(method) in explorer.w_how.value


def test_a_cell_ending_in_the_explorer_shows_its_widget(explorer, monkeypatch):
    """IPython calls _ipython_display_ under ipywidgets 7 (Colab's) and 8; a _repr_mimebundle_ that asks the
    widget for its own fails under 7, whose widgets have none."""
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kwargs: shown.extend(objs))
    explorer._ipython_display_()
    assert shown == [explorer.widget]
    assert not hasattr(W.AnomalyExplorer, "_repr_mimebundle_")


def test_in_colab_the_histogram_is_a_page_of_its_own_that_loads_plotly_first(explorer):
    figure = explorer.state.figure
    assert W.plot_output(figure, colab=False) is figure  # elsewhere the notebook's own plotly renderer
    text = W.plot_output(figure, colab=True).data
    assert text.startswith("<div><iframe srcdoc=") and "<script" not in text  # nothing for Colab to inject or reorder
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', text).group(1))
    assert page.index('src="https://cdn.plot.ly/plotly-') < page.index("Plotly.newPlot")
    assert str(figure.data[0].type) in page
