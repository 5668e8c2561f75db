"""Reuse a trained run: load_run(run_dir) and score_paths(run, paths) -> table of path, score, decision.

Scores come out of the same pipeline as training-time evaluation (same resize, the same T fixed rotations,
the same embedding and flow), so a run's scores.csv and `adnkit score` agree for the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from adnkit.checkpoint import load_torch
from adnkit.config import Config
from adnkit.data import ImageDataset, Sample, read_image
from adnkit.data.images import IMAGE_EXTENSIONS, is_image_file
from adnkit.errors import DataError
from adnkit.features import score_embeddings
from adnkit.metrics import decisions
from adnkit.model import DifferNet
from adnkit.train import WEIGHTS, embed_test_set, load_weights, resolve_device



@dataclass
class TrainedRun:
    """A trained detector with the decision threshold stored beside it."""

    model: DifferNet
    cfg: Config
    threshold: float
    threshold_method: str
    run_dir: Path


def load_run(run_dir: str | Path, device: str = "auto", progress: bool = False) -> TrainedRun:
    """Rebuild the model of a run folder from its config.json and model.pt (loaded without pickled code)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / WEIGHTS).is_file():
        raise DataError(f"{run_dir}: not a trained run folder (needs config.json and {WEIGHTS}); "
                        "pass the --out folder of `adnkit train`")
    cfg = Config.from_json(run_dir / "config.json").replace(device=device)
    stored = load_torch(run_dir / WEIGHTS)
    model = DifferNet(cfg, progress=progress)
    load_weights(model, stored["model"], run_dir / WEIGHTS)
    model = model.to(resolve_device(device)).eval()
    return TrainedRun(model, cfg, float(stored["threshold"]), str(stored["threshold_method"]), run_dir)


def collect_images(items: list[str | Path]) -> list[Path]:
    """Files as given, folders expanded to the image files below them (sorted); nothing found is an error."""
    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if is_image_file(p))
        elif item.is_file():
            paths.append(item)
        else:
            raise DataError(f"{item}: no such file or folder; pass image files or folders of images")
    if not paths:
        raise DataError(f"no images found in {[str(i) for i in items]}; supported: {', '.join(sorted(IMAGE_EXTENSIONS))}")
    return paths


def score_paths(run: TrainedRun, paths: list[str | Path], progress: bool = False) -> pd.DataFrame:
    """Score image files: a table of path, score, decision ('anomalous' when score >= threshold).

    `run` may also be an exported detector: an .onnx path or an adnkit.onnx_inference.OnnxDetector
    (scored through onnxruntime, same table)."""
    from adnkit.onnx_inference import OnnxDetector, is_onnx_path  # export: ONNX files score through onnxruntime

    if is_onnx_path(run) or isinstance(run, OnnxDetector):
        return (run if isinstance(run, OnnxDetector) else OnnxDetector(run)).score_paths(paths, progress)
    paths = collect_images(paths)
    for p in paths:
        read_image(p)  # a clear error naming the file before any work is done
    samples = [Sample(Path(p), -1, "unknown", None) for p in paths]
    embeddings = embed_test_set(run.model, ImageDataset(samples, run.cfg.image_size), run.cfg, progress, "scoring")
    scores = score_embeddings(run.model, embeddings).numpy()
    return pd.DataFrame(dict(path=[str(p) for p in paths], score=scores,
                             decision=decisions(scores, run.threshold)))
