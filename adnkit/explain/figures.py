"""Several variants side by side: a plotly figure (`compare`) and a PIL picture (`side_by_side`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw
from plotly.subplots import make_subplots

from adnkit.core.errors import ConfigError
from adnkit.explain.image import Explanation, explain_image
from adnkit.explain.methods import canonical_method


def _title(name: str, ex: Explanation) -> str:
    text = f"{name}: score {ex.score:.4g}"
    if ex.threshold is not None:
        text += f" ({ex.decision}, thr {ex.threshold:.4g})"
    return text


def compare(runs: Mapping[str, object], image_path: str | Path, method: str = "gradcam", layer="last",
            explanations: Mapping[str, Explanation] | None = None, **options):
    """plotly Figure: the image, then its overlay under each variant (name -> Detector), scores in titles.

    `explanations` (name -> Explanation) reuses maps already computed; options go to explain_image."""
    if not runs and not explanations:
        raise ConfigError("compare: give at least one run (name -> Detector)")
    found = dict(explanations or {})
    for name, run in runs.items():
        if name not in found:
            found[name] = explain_image(run, image_path, method, layer, **options)
    first = next(iter(found.values()))
    titles = ["original"] + [_title(n, e) for n, e in found.items()]
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.02)
    fig.add_trace(go.Image(z=np.rint(first.image * 255).astype(np.uint8), name="original"), row=1, col=1)
    for col, (name, ex) in enumerate(found.items(), start=2):
        fig.add_trace(go.Image(z=ex.overlay, name=name), row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    canonical = canonical_method(method)
    where = first.layer
    fig.update_layout(title=f"{Path(image_path).name}: {canonical} at {where}", template="plotly_white",
                      height=360, width=max(480, 300 * len(titles)), margin=dict(l=10, r=10, t=80, b=10))
    fig.update_annotations(font_size=11)
    return fig


def _labelled(rgb: np.ndarray, label: str, height: int = 22) -> Image.Image:
    img = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    canvas = Image.new("RGB", (img.width, img.height + height), "white")
    canvas.paste(img, (0, height))
    ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
    return canvas


def side_by_side(image: np.ndarray, panels: Mapping[str, Explanation], gap: int = 6) -> Image.Image:
    """One PIL image: the original, then each variant's overlay, each with a one-line label above it."""
    tiles = [_labelled(np.rint(image * 255).astype(np.uint8), "original")]
    tiles += [_labelled(ex.overlay, _title(name, ex)) for name, ex in panels.items()]
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (width, max(t.height for t in tiles)), "white")
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out
