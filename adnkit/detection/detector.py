"""Reuse a trained run: load_run(run_dir) and score_paths(run, paths) -> table of path, score, decision.

Scores come out of adnkit.model.scoring, the same path as training's evaluation (same resize, the same T test
rotations, the same embedding and flow), so a run's scores.csv and `adnkit score` agree for the same images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from adnkit.config.settings import Config
from adnkit.core.device import resolve_device
from adnkit.core.errors import DataError
from adnkit.data import ImageDataset, Sample, read_image
from adnkit.data.images import IMAGE_EXTENSIONS, is_image_file
from adnkit.evaluation.summary import decisions
from adnkit.evaluation.threshold import threshold_source
from adnkit.model.differnet import DifferNet
from adnkit.model.scoring import score_dataset
from adnkit.runs.folder import Run


@dataclass
class TrainedRun:
    """A trained detector with the decision threshold stored beside it."""

    model: DifferNet
    cfg: Config
    threshold: float
    threshold_method: str
    """How the threshold was chosen, in words."""
    run_dir: Path
    threshold_target_fpr: float = math.nan
    """val_fpr: the validation false-positive rate the threshold was set for (NaN for other methods)."""
    threshold_val_fpr: float = math.nan
    """The share of the run's validation images at or above the threshold."""
    n_val: int = 0

    def threshold_source(self) -> str:
        """One line for people: the threshold, how it was chosen, and the validation FPR it was set for."""
        return threshold_source(self.threshold, self.threshold_method, self.threshold_target_fpr,
                                self.threshold_val_fpr, self.n_val)

    @property
    def run(self) -> Run:
        return Run(self.run_dir, self.cfg)


def load_run(run_dir: str | Path, device: str = "auto", progress: bool = False) -> TrainedRun:
    """Rebuild the model of a run folder from its config and weights (loaded without pickled code)."""
    run = Run(run_dir).require_trained()
    cfg = run.config.replace(device=device)
    model = DifferNet(cfg, progress=progress)
    model.load_stored_state(run.load_model()["model"], run.model_file)
    model = model.to(resolve_device(device)).eval()
    threshold, how = run.threshold()
    metrics = run.read_metrics(missing_ok=True)
    info = {} if metrics is None else dict(threshold_target_fpr=metrics.threshold_target_fpr,
                                           threshold_val_fpr=metrics.threshold_val_fpr, n_val=metrics.n_val)
    return TrainedRun(model, cfg, threshold, how, run.path, **info)


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
        raise DataError(
            f"no images found in {[str(i) for i in items]}; supported: {', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    return paths


def score_paths(run: TrainedRun, paths: list[str | Path], progress: bool = False) -> pd.DataFrame:
    """Score image files: a table of path, score, decision ('anomalous' when score >= threshold).

    `run` may also be an exported detector: an .onnx path or an adnkit.export.onnx_detector.OnnxDetector
    (scored through onnxruntime, same table)."""
    from adnkit.export.onnx_detector import OnnxDetector, is_onnx_path  # export: ONNX files score through onnxruntime

    if is_onnx_path(run) or isinstance(run, OnnxDetector):
        return (run if isinstance(run, OnnxDetector) else OnnxDetector(run)).score_paths(paths, progress)
    paths = collect_images(paths)
    for p in paths:
        read_image(p, min_side=run.cfg.min_image_side)  # a clear error naming the file before any work is done
    samples = [Sample(Path(p), -1, "unknown", None) for p in paths]
    dataset = ImageDataset(samples, run.cfg.image_size, min_side=run.cfg.min_image_side)
    scores = score_dataset(run.model, dataset, progress)
    return pd.DataFrame(dict(path=[str(p) for p in paths], score=scores,
                             decision=decisions(scores, run.threshold)))
