import html
import re
from pathlib import Path

import numpy as np
import pytest
from plotly.offline import get_plotlyjs
from run_fakes import write_run

from adnkit.config.settings import Config, preset
from adnkit.core.errors import AdnkitError
from adnkit.evaluation.auroc import auroc
from adnkit.experiments.bench import benchmark
from adnkit.experiments.folder import BenchFolder
from adnkit.experiments.report import SECTIONS, write_report
from adnkit.experiments.tables import paired_table
from adnkit.experiments.terminal import the_answer

PLOTLY_JS_HEADER = "* plotly.js v"  # the licence header at the top of the embedded bundle


def fake_runner(fail_attention=None):
    """A stand-in for train that writes a run folder in its format."""

    def runner(cfg: Config, run_dir: Path) -> dict:
        if cfg.attention == fail_attention:
            raise RuntimeError("no GPU found; use --device cpu")
        rng = np.random.default_rng(cfg.seed + 10 * len(cfg.attention))
        labels = np.r_[np.zeros(10, int), np.ones(6, int)]
        scores = rng.normal(size=16) + 2.0 * labels
        last = auroc(labels, scores)
        metrics = write_run(cfg, run_dir, labels, scores, [last - 0.05, last], paths=[f"img{i}.png" for i in range(16)],
                            defect="rust", n_train=20, train_seconds=2.0, eval_seconds=0.3, train_images_per_s=25.0,
                            test_images_per_s=50.0, peak_rss_mb=700.0, threshold=0.9)
        return metrics

    return runner


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """One MVTec category (has published numbers) and one synthetic set (has none); cbam fails everywhere."""
    root = tmp_path_factory.mktemp("bench")
    (root / "mvtec" / "bottle" / "train" / "good").mkdir(parents=True)
    out = root / "out"
    benchmark([f"mvtec:{root / 'mvtec'}", "synthetic:toy"], ["none", "se", "cbam"], [0], preset("ci"), out,
              runner=fake_runner(fail_attention="cbam"), progress=False)
    return out


@pytest.fixture(scope="module")
def page(bench_dir):
    path = write_report(bench_dir)
    assert path == bench_dir / "report.html"
    return path.read_text(encoding="utf-8")


def test_report_has_every_section(page):
    expected = ["summary", "real", "best", "categories", "gain", "roc", "histograms", "training", "speed", "failed"]
    assert [key for key, _ in SECTIONS] == expected
    for key, title in SECTIONS:
        assert f"<section id='{key}'><h2>{title}</h2>" in page
    best = page.split("<section id='best'>")[1].split("</section>")[0]
    assert "maximum over all evaluations" in best and "chosen on the test set" in best
    real = page.split("<section id='real'>")[1].split("</section>")[0]
    assert "One seed per variant: no comparison" in real  # the terminal's words
    assert "se vs none on mvtec (last)" in real and "too few to tell" in real


def test_report_embeds_plotly_js_exactly_once(page):
    bundle = get_plotlyjs()
    assert page.count(PLOTLY_JS_HEADER) == 1 and page.count(bundle) == 1
    assert "<script src=" not in page  # nothing fetched: it opens offline
    # Several figures share that one copy: 2 category bars, gain, paired intervals, 2 ROC, 4 histograms,
    # 2 training, speed. Counted outside the bundle, which itself spells "Plotly.newPlot(" in plotly.js < 4.
    assert page.replace(bundle, "").count("Plotly.newPlot(") == 13


def test_report_shows_measured_beside_published_and_failures(page):
    section = page.split("<section id='categories'>")[1].split("</section>")[0]
    published = section.split("<h3>Published numbers</h3>")[1]
    assert "<td>bottle</td>" in published and "99.00" in published  # DifferNet's published bottle AUROC
    assert "<td>grid</td>" not in published  # not measured here: left out
    assert "96.67" in published  # best AttentDifferNet's MVTec mean
    assert "paper: differnet (DifferNet paper)" in section
    failed = page.split("<section id='failed'>")[1].split("</section>")[0]
    assert failed.count("RuntimeError: no GPU found; use --device cpu") == 2  # cbam x 2 datasets
    summary = page.split("<section id='summary'>")[1].split("</section>")[0]
    assert "6 runs: 4 finished, 2 failed" in summary
    assert re.search(r"<td>bottle</td>\s*<td>se</td>", summary)


def test_report_opens_with_the_terminals_answer_and_no_repeated_rows(page, bench_dir):
    summary = page.split("<section id='summary'>")[1].split("</section>")[0]
    assert summary.index("<div class='answer'>") < summary.index("<table")  # the answer first, then the table
    answer = summary.split("<div class='answer'>")[1].split("</div>")[0]
    results = BenchFolder(bench_dir).read_results()
    ok = results[results["status"] == "ok"]
    heading, lines = the_answer(paired_table(ok), ok)
    assert lines and all(html.escape(line) in answer for line in [heading, *lines])
    assert "<td>mean</td>" not in summary  # one category per dataset: its mean rows would repeat it


def test_report_without_published_numbers_or_finished_runs(tmp_path):
    benchmark(["synthetic:only"], ["none", "se"], [0], preset("ci"), tmp_path, runner=fake_runner("se"),
              progress=False)
    page = write_report(tmp_path).read_text()
    assert "No published numbers" in page and page.count(PLOTLY_JS_HEADER) == 1
    # Every run failed: still a page, with no plotly at all needed.
    out = tmp_path / "all_failed"
    benchmark(["synthetic:only"], ["se"], [0], preset("ci"), out, runner=fake_runner("se"), progress=False)
    page = write_report(out).read_text()
    assert "No finished runs" in page and "RuntimeError" in page
    with pytest.raises(AdnkitError, match="results.csv"):
        write_report(tmp_path / "nothing_here")
