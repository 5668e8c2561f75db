import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.published import reference_for
from adnkit.evaluation.summary import summarize
from adnkit.figures import plots as viz


def _results():
    rows = []
    for cat, none, se in (("bottle", (0.90, 0.92), (0.95, 0.97)), ("grid", (0.80, 0.84), (0.81, 0.83))):
        for seed in (0, 1):
            for att, vals in (("none", none), ("se", se)):
                rows.append(dict(dataset="mvtec", category=cat, attention=att, seed=seed, status="ok",
                                 auroc_last=vals[seed], auroc_best=vals[seed] + 0.01,
                                 train_images_per_s=10.0 + seed, test_images_per_s=20.0, peak_rss_mb=500.0))
    rows.append(dict(dataset="mvtec", category="bottle", attention="cbam", seed=0, status="failed",
                     auroc_last=np.nan, auroc_best=np.nan))
    return pd.DataFrame(rows)


def test_roc_figure_one_curve_each_with_auroc_in_the_name():
    fig = viz.roc_figure({"perfect": ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),
                          "half": ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
                          "one class": ([0, 0], [0.1, 0.2])})
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names == ["perfect (AUROC 100.0)", "half (AUROC 75.0)", "chance"]
    perfect = fig.data[0]
    assert perfect.x[-1] == 1.0 and perfect.y[-1] == 1.0 and max(perfect.y[perfect.x == 0]) == 1.0
    assert "one class" in fig.layout.annotations[0].text


def test_score_histogram_splits_classes_and_marks_threshold_and_highlight():
    labels = [0] * 5 + [1] * 3
    scores = [1, 2, 2, 3, 4, 6, 7, 9]
    fig = viz.score_histogram(labels, scores, threshold=5.0, highlight=("new.png", 8.0))
    hists = [t for t in fig.data if t.type == "histogram"]
    assert [len(h.x) for h in hists] == [5, 3]
    assert hists[0].xbins.size == hists[1].xbins.size  # shared bins
    assert fig.layout.shapes[0].x0 == 5.0 and fig.layout.barmode == "overlay"
    marker = [t for t in fig.data if t.type == "scatter"][0]
    assert marker.x == (8.0,) and "new.png" in marker.name
    no_extras = viz.score_histogram(labels, scores)
    assert len(no_extras.layout.shapes) == 0 and len(no_extras.data) == 2


def test_category_bars_measured_with_error_bars_and_papers_beside():
    summary = summarize(_results())
    fig = viz.category_bars(summary, reference_for("mvtec"))
    measured = {t.name: t for t in fig.data if "measured" in t.name}
    assert set(measured) == {"DifferNet (none), measured", "AttentDifferNet (se), measured"}
    se = measured["AttentDifferNet (se), measured"]
    assert list(se.x) == ["bottle", "grid", "mean"]
    assert se.y[0] == pytest.approx(97.0)  # best mean of 0.96, 0.98, in percent
    assert se.error_y.array[0] == pytest.approx(100 * np.std([0.96, 0.98], ddof=1))
    papers = [t for t in fig.data if t.name.startswith("paper:")]
    differnet = [t for t in papers if "differnet (DifferNet paper)" in t.name][0]
    # Only measured categories get the papers' numbers: bottle, grid and mean, not the other 13.
    assert dict(zip(differnet.x, differnet.y, strict=True)) == pytest.approx(
        {"bottle": 99.0, "grid": 84.0, "mean": 94.9}
    )
    assert fig.layout.barmode == "group"
    # Measured near 99 everywhere: the axis still starts below the published grid bar (84.0).
    high = _results().assign(auroc_last=0.99, auroc_best=0.99)
    assert viz.category_bars(summarize(high), reference_for("mvtec")).layout.yaxis.range[0] < 84.0
    # Without reference, only measured bars; an empty summary does not crash.
    assert all("measured" in t.name for t in viz.category_bars(summary).data)
    assert len(viz.category_bars(summarize(pd.DataFrame())).data) == 0


def test_gain_figure_shows_variants_only():
    summary = summarize(_results())
    fig = viz.gain_figure(summary, metric="last")
    assert [t.name for t in fig.data] == ["se - none, measured"]
    bottle = dict(zip(fig.data[0].x, fig.data[0].y, strict=True))["bottle"]
    assert bottle == pytest.approx(100 * 0.05)  # (0.05 + 0.05) / 2 points
    with pytest.raises(AdnkitError, match="best"):
        viz.gain_figure(summary, metric="median")


def test_training_curves_and_time_memory():
    hist = pd.DataFrame({"meta_epoch": [1, 2, 3], "epoch": [2, 4, 6], "train_loss": [3.0, 2.0, 1.5],
                         "auroc": [0.7, 0.8, 0.75], "seconds": [1, 2, 3]})
    fig = viz.training_curves({"none seed0": hist, "se seed0": hist.assign(auroc=0.9)})
    assert len(fig.data) == 4
    assert list(fig.data[1].y) == pytest.approx([70.0, 80.0, 75.0])
    tm = viz.time_memory_bars(_results())
    assert len(tm.data) == 3
    assert len(tm.data[0].x) == 8  # the failed run is left out
    assert "cbam" not in " ".join(tm.data[0].x)


def test_histogram_switches_to_log_bins_when_a_few_scores_are_huge():
    from adnkit.figures.plots import score_histogram

    labels = [0] * 50 + [1] * 5
    scores = list(np.linspace(1.0, 2.0, 50)) + [3.0, 4.0, 5.0, 1e6, 1e14]
    fig = score_histogram(labels, scores, threshold=10.0, highlight=("x", 1000.0))
    assert "log10" in fig.layout.xaxis.title.text
    assert max(fig.data[1].x) == pytest.approx(14.0)
    assert fig.layout.shapes[0].x0 == pytest.approx(1.0)  # the threshold line sits at log10(10)
    assert fig.data[-1].x[0] == pytest.approx(3.0)
    linear = score_histogram(labels[:50], scores[:50])
    assert "log10" not in linear.layout.xaxis.title.text


def test_auroc_axes_stop_at_100_and_do_not_blow_up_on_constant_values():
    perfect = pd.DataFrame({"meta_epoch": [1, 2], "train_loss": [2.0, 1.0], "auroc": [1.0, 1.0]})
    fig = viz.training_curves({"a": perfect, "b": perfect})
    assert list(fig.layout.yaxis2.range) == [95.0, 100.0]  # not plotly's 0..200 for a constant, nor 101
    assert viz.auroc_range([100.0, 100.0]) == [95.0, 100.0]
    assert viz.auroc_range([40.0, 100.0]) == [35.0, 100.0] and viz.auroc_range([2.0]) == [0.0, 100.0]
    assert viz.auroc_range([]) == [0.0, 100.0]
    high = _results().assign(auroc_last=1.0, auroc_best=1.0)
    assert viz.category_bars(summarize(high)).layout.yaxis.range[1] == 100.0


def test_empty_gain_figure_says_why_instead_of_an_empty_chart():
    only_baseline = _results().query("attention == 'none'")
    fig = viz.gain_figure(summarize(only_baseline), metric="last")
    assert len(fig.data) == 0 and "No gain to show" in fig.layout.annotations[0].text
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert "No gain to show" in viz.gain_figure(summarize(pd.DataFrame())).layout.annotations[0].text
    assert not viz.gain_figure(summarize(_results())).layout.annotations  # a real one has no such note
