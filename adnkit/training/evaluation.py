"""What training scores after every meta epoch: the test images (AUROC), and the validation images (a loss and a
mean score that select a model without test labels).

When the backbone is frozen and the test rotations fixed, the test-view embeddings of an image set never change:
`ViewCache` computes them once and every later evaluation is a pass through the flow alone.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from adnkit.data.dataset import ImageDataset
from adnkit.evaluation.auroc import auroc
from adnkit.model.embedding import PhaseTimer, untimed
from adnkit.model.scoring import embed_test_views, mean_nll, score_embeddings


class ViewCache:
    """The test-view embeddings of one image set (test or validation), kept after the first pass when `reuse`."""

    def __init__(self, model, dataset: ImageDataset, reuse: bool, progress: bool, desc: str,
                 timer: PhaseTimer = untimed):
        self.model, self.dataset, self.reuse, self.progress, self.desc = model, dataset, reuse, progress, desc
        self.timer = timer
        self.cached: torch.Tensor | None = None

    def embeddings(self) -> torch.Tensor:
        if self.cached is not None:
            return self.cached
        emb = embed_test_views(self.model, self.dataset, self.progress, self.desc, self.timer)
        if self.reuse:
            self.cached = emb
        return emb

    def scores(self) -> np.ndarray:
        emb = self.embeddings()
        with self.timer("flow"):
            return score_embeddings(self.model, emb).numpy()


class Evaluator:
    """Scores the test set (and the validation split, if any) with the model as it is now."""

    def __init__(self, model, test_set: ImageDataset, val_set: ImageDataset | None, reuse: bool, progress: bool,
                 timer: PhaseTimer = untimed):
        self.model, self.timer = model, timer
        self.test = ViewCache(model, test_set, reuse, progress, "test views", timer)
        self.val = (ViewCache(model, val_set, reuse, progress, "validation views", timer)
                    if val_set is not None else None)

    def __call__(self) -> tuple[np.ndarray, float, float]:
        """Test scores, validation loss and mean validation score (NaN without a validation split)."""
        self.model.eval()
        scores = self.test.scores()
        if self.val is None:
            return scores, math.nan, math.nan
        emb = self.val.embeddings()
        with self.timer("flow"):
            return scores, mean_nll(self.model, emb), float(score_embeddings(self.model, emb).mean())

    def val_scores(self) -> np.ndarray | None:
        return self.val.scores() if self.val is not None else None


def auroc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    """The test AUROC, NaN when the test set holds one class only (a folder of good images)."""
    return auroc(labels, scores) if len(set(labels.tolist())) == 2 else math.nan
