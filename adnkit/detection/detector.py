"""A trained detector: images in, anomaly scores and decisions out.

    detector = Detector.load("runs/se-mono")          # a run folder: settings, weights, stored threshold
    table = detector.score_files(["new/images/"])      # path, score, decision
    detector = Detector.from_model(model, threshold)   # a model in memory (a notebook), any threshold

`Scorer` is what every detector shares (the decision rule, the threshold's line for people, scoring files in
batches through adnkit's one image reader); `Detector` scores through PyTorch and adnkit.model.scoring, the
same path as training's evaluation (same resize, the same T test rotations, the same embedding and flow), so a
run's scores.csv and `adnkit score` agree for the same images. adnkit.export.onnx_detector.OnnxDetector is the
same Scorer on an exported .onnx file, through onnxruntime.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from adnkit.config import Config
from adnkit.core.device import resolve_device
from adnkit.data.dataset import ImageDataset
from adnkit.data.images import collect_images
from adnkit.evaluation.threshold import Threshold, decisions
from adnkit.model.differnet import DifferNet
from adnkit.model.scoring import score_dataset, score_images
from adnkit.runs.folder import Run

NO_THRESHOLD = Threshold(math.inf, "", "", "no decision threshold: every image is called good; pass one")


class Scorer:
    """Scores and decisions for image files; subclasses say how a dataset of uint8 images becomes scores."""

    threshold: Threshold
    image_size: int
    min_side: int

    def score_dataset(self, dataset: ImageDataset, progress: bool = False) -> np.ndarray:
        """Scores [N] (float64) of a dataset yielding (uint8 image [3, S, S], index)."""
        raise NotImplementedError

    def decide(self, scores) -> np.ndarray:
        """"anomalous" where score >= the threshold, else "good" (adnkit.evaluation.threshold.decisions)."""
        return decisions(scores, self.threshold.value)

    def threshold_source(self) -> str:
        """One line: the threshold and how it was chosen."""
        return self.threshold.source_line()

    def score_files(self, items, progress: bool = False) -> pd.DataFrame:
        """Score image files and folders of images: a table of path, score, decision."""
        paths = collect_images(items)
        scores = self.score_dataset(ImageDataset.of_files(paths, self.image_size, min_side=self.min_side), progress)
        return pd.DataFrame(dict(path=[str(p) for p in paths], score=scores, decision=self.decide(scores)))


class Detector(Scorer):
    """A DifferNet with its settings and decision threshold; `run_dir` is the run folder it came from, if any."""

    def __init__(self, model: DifferNet, threshold: Threshold = NO_THRESHOLD, run_dir: str | Path | None = None):
        self.model = model
        self.threshold = threshold
        self.run_dir = None if run_dir is None else Path(run_dir)

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto", progress: bool = False) -> Detector:
        """Rebuild a run folder's model from its settings and weights (loaded without pickled code)."""
        run = Run(run_dir).require_trained()
        cfg = run.config.replace(device=device)
        model = DifferNet(cfg, progress=progress)
        model.load_stored_state(run.load_model()["model"], run.model_file)
        return cls(model.to(resolve_device(device)).eval(), run.threshold(), run.path)

    @classmethod
    def from_model(cls, model: DifferNet, threshold: float | Threshold | None = None) -> Detector:
        """A model in memory; a plain number as threshold is described as given by hand."""
        if isinstance(threshold, (int, float)):
            threshold = Threshold(float(threshold), "given", "given", f"Threshold {threshold:.6g}, given by hand.")
        return cls(model.eval(), threshold or NO_THRESHOLD)

    @property
    def cfg(self) -> Config:
        return self.model.cfg

    @property
    def image_size(self) -> int:
        return self.cfg.image_size

    @property
    def min_side(self) -> int:
        return self.cfg.min_image_side

    @property
    def name(self) -> str:
        """The run folder's name, or the attention variant for a model in memory."""
        return self.run_dir.name if self.run_dir is not None else self.cfg.attention

    @property
    def run(self) -> Run:
        if self.run_dir is None:
            raise ValueError("this detector was built from a model in memory, not a run folder")
        return Run(self.run_dir, self.cfg)

    def score_dataset(self, dataset: ImageDataset, progress: bool = False) -> np.ndarray:
        return score_dataset(self.model, dataset, progress)

    def score_images(self, images: torch.Tensor, angles=None) -> torch.Tensor:
        """Images [B, 3, S, S] (uint8, or float in [0, 1]) -> scores [B] (adnkit.model.scoring.score_images;
        differentiable when the images require grad)."""
        return score_images(self.model, images, angles)
