"""The notebooks' explorer: pick variants and an image, move the threshold, see the decision and the CAMs.

    explorer = AnomalyExplorer({"DifferNet": "runs/none", "SE": "runs/se", "CBAM": "runs/cbam"})
    explorer.display()

What it shows, for the first selected run (the "primary" one, whose scores.csv lists the images):
- the decision for the selected image: "anomalous" when score >= threshold (as `adnkit score`), else "good",
  with the score against the threshold (the slider starts at the run's stored threshold) and the ground truth;
- the histogram of the run's test scores (good vs defective) with the threshold line and this image marked;
- the image's CAM overlays under every selected run, side by side, with each run's own score and decision.

All logic lives in plain methods (`select_runs`, `select_image`, `set_threshold`, `set_method`, `refresh`),
so the callbacks run headless (tests, scripts); the widgets only call them. `refresh()` returns and stores
an `ExplorerState`. CAMs are cached per (run, image, method, layer).
"""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from adnkit.core.errors import ConfigError, DataError
from adnkit.detection.detector import Detector
from adnkit.evaluation.threshold import decisions
from adnkit.explain.image import Explanation, explain_image
from adnkit.explain.methods import METHODS, canonical_method
from adnkit.figures.plots import score_histogram
from adnkit.runs.folder import Run


@dataclass
class ExplorerState:
    """What the explorer shows now."""

    run: str
    """The primary run (its scores, threshold and histogram)."""
    image: str
    score: float
    threshold: float
    decision: str
    """"anomalous" (score >= threshold) or "good"."""
    text: str
    figure: object
    """plotly Figure: the primary run's score histogram with the threshold line and this image marked."""
    overlays: dict[str, bytes] = field(default_factory=dict)
    """run name -> PNG bytes of the CAM overlay."""
    scores: dict[str, float] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)
    """run name -> decision under that run's own stored threshold (the slider moves the primary's only)."""
    label: int | None = None
    defect: str | None = None


def decide(score: float, threshold: float) -> str:
    """"anomalous" when score >= threshold, else "good" (adnkit.evaluation.threshold.decisions, the rule of
    `adnkit score`)."""
    return str(decisions(float(score), float(threshold)))


class AnomalyExplorer:
    """ipywidgets explorer over trained runs: name -> run folder (or an already loaded Detector)."""

    def __init__(self, runs: Mapping[str, object], method: str = "gradcam", layer="last", device: str = "auto",
                 selected: Sequence[str] | None = None, build_widgets: bool = True):
        if not runs:
            raise ConfigError("AnomalyExplorer needs at least one run: {name: run folder}")
        self.runs: dict[str, object] = {}
        self.tables: dict[str, pd.DataFrame] = {}
        self.categories: dict[str, str] = {}
        for name, run in runs.items():
            if isinstance(run, (str, Path)):
                run = Detector.load(run, device=device)
            self.runs[str(name)] = run
            self.tables[str(name)] = self._scores_table(run)
            self.categories[str(name)] = self._category(run)
        self.method = canonical_method(method)
        self.layer = layer
        self._cache: dict[tuple, Explanation] = {}
        self._extra_scores: dict[tuple[str, str], float] = {}
        self.selected = list(selected) if selected else list(self.runs)
        self._check_selection(self.selected)
        self.image = self.image_options()[0][1]
        self.threshold = self.stored_threshold()
        self.state: ExplorerState | None = None
        self.widget = None
        self._syncing = False
        if build_widgets:
            self._build()
        self.refresh()

    # ---------------------------------------------------------------------------------------------------- data
    @staticmethod
    def _scores_table(run) -> pd.DataFrame:
        run_dir = Path(run.run_dir)
        table = Run(run_dir).read_scores()
        if table is None:
            raise DataError(f"{run_dir}: no readable test scores; the explorer lists a run's test images from "
                            "them: retrain the run")
        for column in ("label", "defect"):
            if column not in table:
                table[column] = -1 if column == "label" else "unknown"
        table["path"] = [str(_resolve(p, run_dir)) for p in table["path"]]
        return table.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)

    @staticmethod
    def _category(run) -> str:
        metrics = Run(run.run_dir).read_metrics(missing_ok=True)
        if metrics is not None and metrics.dataset and metrics.category:
            return f"{metrics.dataset}/{metrics.category}"
        return str(run.cfg.data)

    @property
    def primary(self) -> str:
        return self.selected[0]

    def stored_threshold(self, name: str | None = None) -> float:
        return float(self.runs[name or self.primary].threshold.value)

    def image_options(self, name: str | None = None) -> list[tuple[str, str]]:
        """(label, path) of the run's test images, most anomalous first."""
        table = self.tables[name or self.primary]
        return [(f"{row.score:.4g} | {row.defect} | {Path(row.path).name}", row.path) for row in table.itertuples()]

    def score_of(self, name: str, image: str) -> float:
        """The run's score of an image: from its scores.csv, else computed once by the model."""
        table = self.tables[name]
        hit = table.index[table["path"] == str(image)]
        if len(hit):
            return float(table.at[hit[0], "score"])
        key = (name, str(image))
        if key not in self._extra_scores:
            self._extra_scores[key] = self.explanation(name, image).score
        return self._extra_scores[key]

    def explanation(self, name: str, image: str) -> Explanation:
        """The cached CAM (or gradient map) of an image under a run."""
        key = (name, str(image), self.method, str(self.layer))
        if key not in self._cache:  # a blank map warns (BlankMapWarning) and shows the bare image
            self._cache[key] = explain_image(self.runs[name], image, self.method, self.layer, on_blank="warn")
        return self._cache[key]

    # ----------------------------------------------------------------------------------------- state changes
    def _check_selection(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in self.runs]
        if not names or unknown:
            raise ConfigError(f"select at least one of the runs {list(self.runs)}" +
                              (f"; unknown: {unknown}" if unknown else ""))

    def select_runs(self, names: Sequence[str]) -> ExplorerState:
        """Show these runs (the first one is primary: its images, threshold and histogram)."""
        names = list(names)
        self._check_selection(names)
        old_primary = self.primary
        self.selected = names
        if self.primary != old_primary:
            paths = [p for _, p in self.image_options()]
            if self.image not in paths:
                self.image = paths[0]
            self.threshold = self.stored_threshold()
            self._sync_image_widget()
        return self.refresh()

    def select_image(self, path: str | Path) -> ExplorerState:
        """Explain this image (normally one of the primary run's test images; any image file works)."""
        path = str(path)
        listed = {p for _, p in self.image_options()}
        if path not in listed and not Path(path).is_file():
            raise DataError(f"{path}: image file not found; pick one of the run's test images")
        self.image = path
        return self.refresh()

    def set_threshold(self, threshold: float) -> ExplorerState:
        """Move the primary run's decision threshold."""
        self.threshold = float(threshold)
        return self.refresh()

    def reset_threshold(self) -> ExplorerState:
        return self.set_threshold(self.stored_threshold())

    def set_method(self, method: str, layer=None) -> ExplorerState:
        """Switch the explanation: gradcam, gradcam++, xgradcam, layercam, hirescam or gradients."""
        self.method = canonical_method(method)
        if layer is not None:
            self.layer = layer
        return self.refresh()

    @property
    def decision(self) -> str:
        return self.state.decision

    def refresh(self) -> ExplorerState:
        """Recompute what is shown (decision, histogram, overlays) and update the widgets."""
        name, image = self.primary, self.image
        score = self.score_of(name, image)
        decision = decide(score, self.threshold)
        table = self.tables[name]
        row = table[table["path"] == image]
        label = int(row["label"].iloc[0]) if len(row) else None
        defect = str(row["defect"].iloc[0]) if len(row) else None
        title = f"{name} on {self.categories[name]}: test scores"
        figure = score_histogram(table["label"].to_numpy(), table["score"].to_numpy(), threshold=self.threshold,
                                 highlight=(Path(image).name, score), title=title)
        overlays, scores, decisions = {}, {}, {}
        for other in self.selected:
            ex = self.explanation(other, image)
            overlays[other] = ex.overlay_png()
            scores[other] = self.score_of(other, image) if other != name else score
            decisions[other] = decide(scores[other], self.stored_threshold(other))
        sign = ">=" if decision == "anomalous" else "<"  # the rule: anomalous when score >= threshold
        truth = "" if label is None or label < 0 else f"; ground truth: {'defective' if label else 'good'}" + (
            f" ({defect})" if label and defect else "")
        text = (f"{decision.upper()}: score {score:.4f} {sign} threshold {self.threshold:.4f} "
                f"({name}, {self.categories[name]}; stored threshold {self.stored_threshold():.4f}){truth}")
        self.state = ExplorerState(run=name, image=image, score=score, threshold=self.threshold, decision=decision,
                                   text=text, figure=figure, overlays=overlays, scores=scores, decisions=decisions,
                                   label=label, defect=defect)
        self._render()
        return self.state

    # ------------------------------------------------------------------------------------------------ widgets
    def _build(self) -> None:
        import ipywidgets as w

        self.w_runs = w.SelectMultiple(options=list(self.runs), value=tuple(self.selected), description="runs",
                                       rows=min(4, len(self.runs)))
        # wide enough for "1.265 | crack | 004.png" (score | defect type | file name)
        self.w_image = w.Dropdown(options=self.image_options(), value=self.image, description="image",
                                  layout=w.Layout(width="95%", min_width="28em"))
        self.w_method = w.Dropdown(options=list(METHODS), value=self.method, description="map")
        self.w_threshold = w.FloatSlider(description="threshold", continuous_update=False, readout_format=".4f",
                                         layout=w.Layout(width="60%"))
        self.w_reset = w.Button(description="stored threshold", tooltip="back to the run's stored threshold")
        self.w_category = w.HTML()
        self.w_how = w.HTML()  # how the stored threshold was chosen: said once, not under every decision
        self.w_text = w.HTML()
        self.w_plot = w.Output()
        self.w_overlays = w.HBox()
        self._sync_slider()
        self.w_runs.observe(lambda c: self._from_widget(self.select_runs, list(c["new"])), names="value")
        self.w_image.observe(lambda c: self._from_widget(self.select_image, c["new"]), names="value")
        self.w_method.observe(lambda c: self._from_widget(self.set_method, c["new"]), names="value")
        self.w_threshold.observe(lambda c: self._from_widget(self.set_threshold, c["new"]), names="value")
        self.w_reset.on_click(lambda _: self.reset_threshold())
        self.widget = w.VBox([
            w.HBox([self.w_runs, w.VBox([self.w_category, self.w_method])]),
            self.w_image, self.w_how,
            w.HBox([self.w_threshold, self.w_reset]),
            self.w_text, self.w_plot, self.w_overlays,
        ])

    def _from_widget(self, method, value) -> None:
        if self._syncing or (isinstance(value, (tuple, list)) and not value):
            return
        method(value)

    def _sync_image_widget(self) -> None:
        if self.widget is None:
            return
        self._syncing = True
        try:
            self.w_image.options = self.image_options()
            if self.image in {p for _, p in self.w_image.options}:
                self.w_image.value = self.image
        finally:
            self._syncing = False

    def _sync_slider(self) -> None:
        lo, hi = self.slider_range()
        s = self.w_threshold
        self._syncing = True
        try:
            # widen first so that neither bound clamps the other or the value
            s.min, s.max = min(lo, s.min), max(hi, s.max)
            s.value = self.threshold
            s.min, s.max = lo, hi
            s.step = (hi - lo) / 1000
        finally:
            self._syncing = False

    def slider_range(self) -> tuple[float, float]:
        """The threshold slider's (min, max): 5% of the span beyond the lowest and the highest test score (and
        the threshold), so that the slider can call even the most anomalous image good and the least one
        anomalous. Scores are >= 0; when all are positive the bottom stays at or above half the lowest."""
        scores = self.tables[self.primary]["score"].to_numpy(dtype=float)
        scores = scores[np.isfinite(scores)]
        lo = float(min(scores.min(), self.threshold)) if scores.size else float(self.threshold)
        hi = float(max(scores.max(), self.threshold)) if scores.size else float(self.threshold)
        margin = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
        lo = max(lo - margin, 0.5 * lo) if lo > 0 else lo - margin
        return lo, hi + margin

    def threshold_note(self, name: str | None = None) -> str:
        """One sentence on the run's stored threshold: its value and how it was chosen (the run's own
        threshold_method sentence, whatever the method), shown once above the slider."""
        name = name or self.primary
        return f"{name}'s stored threshold ({self.stored_threshold(name):.4f}), how it was chosen: " \
            f"{self.runs[name].threshold.text}"

    def _render(self) -> None:
        if self.widget is None:
            return
        import ipywidgets as w

        st = self.state
        self._sync_slider()
        self._syncing = True
        try:
            if tuple(self.w_runs.value) != tuple(self.selected):
                self.w_runs.value = tuple(self.selected)
            if self.w_method.value != self.method:
                self.w_method.value = self.method
            listed = {p for _, p in self.w_image.options}
            if st.image in listed and self.w_image.value != st.image:
                self.w_image.value = st.image
        finally:
            self._syncing = False
        self.w_category.value = f"<b>data</b>: {html.escape(self.categories[st.run])}"
        color = "#d62728" if st.decision == "anomalous" else "#2ca02c"
        self.w_how.value = f"<small>{html.escape(self.threshold_note(st.run))}</small>"
        self.w_text.value = f"<span style='color:{color}'><b>{html.escape(st.text)}</b></span>"
        tiles = []
        for name, png in st.overlays.items():
            ex_dec = st.decisions[name]
            caption = f"<b>{html.escape(name)}</b>: score {st.scores[name]:.4g} ({ex_dec} at its stored threshold)"
            tiles.append(w.VBox([w.HTML(caption), w.Image(value=png, format="png", width=256)]))
        self.w_overlays.children = tiles
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - ipywidgets depends on IPython
            return
        if get_ipython() is not None:  # only in a live kernel; headless there is nothing to draw into
            from IPython.display import display

            self.w_plot.clear_output(wait=True)
            with self.w_plot:
                display(plot_output(self.state.figure))

    def display(self) -> None:
        """Show the explorer in a notebook cell (returns None, so that the cell does not show it twice)."""
        from IPython.display import display

        if self.widget is None:
            self._build()
            self._render()
        display(self.widget)

    def _ipython_display_(self) -> None:
        """A cell ending in `explorer` shows it, under ipywidgets 7 (Colab's) and 8 alike."""
        self.display()


def plot_output(figure, colab: bool | None = None, plotlyjs: str | bool = "cdn"):
    """What the explorer's plot area displays: the plotly figure itself (JupyterLab, Notebook and VS Code render
    it, offline), or in Google Colab the figure as a page of its own in an iframe, where plotly.js (`plotlyjs`:
    from its CDN, Colab being online; True inlines it) loads before the figure's script runs. A figure displayed
    in an Output widget in Colab can fail with "Plotly is not defined" (googlecolab/colabtools#5889).
    `colab`: None detects it."""
    if colab is None:
        colab = "google.colab" in sys.modules
    if not colab:
        return figure
    from IPython.display import HTML

    height = int(figure.layout.height or 450)
    page = figure.to_html(full_html=True, include_plotlyjs=plotlyjs, default_height=f"{height}px")
    return HTML(f'<div><iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{height + 20}px;'
                'border:none" title="test scores"></iframe></div>')


def _resolve(path: str, run_dir: Path) -> Path:
    """An image path from scores.csv: as written if it exists (relative to the working folder), else relative
    to the run folder or its parents (runs written from another working folder)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    for base in (run_dir, *run_dir.resolve().parents):
        if (base / p).exists():
            return base / p
    return p
