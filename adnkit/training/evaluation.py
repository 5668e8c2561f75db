"""What training scores after every meta epoch: the test images (AUROC), and the validation images (a loss and a
mean score that select a model without test labels).

No work is done twice. When the backbone is frozen, the test-view embeddings of an image set never change (the
test rotations are fixed angles, or random ones fixed by the seed): `ViewCache` computes them once and every
later evaluation is a pass through the flow alone. The validation views go through the flow once per
evaluation, giving their scores and their loss together, and the latest `Evaluation` is kept, so the run's
threshold reuses its validation scores instead of scoring them again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from adnkit.data.dataset import ImageDataset
from adnkit.evaluation.auroc import auroc
from adnkit.model.embedding import PhaseTimer, untimed
from adnkit.model.scoring import embed_test_views, score_embeddings, scores_and_loss


@dataclass
class Evaluation:
    """The scores of one evaluation."""

    test_scores: np.ndarray
    val_scores: np.ndarray | None = None
    """None without a validation split."""
    val_loss: float = math.nan
    val_score_mean: float = math.nan

    def stored(self) -> dict:
        """As tensors (a checkpoint loads with weights_only)."""
        val = None if self.val_scores is None else torch.from_numpy(self.val_scores)
        return dict(test_scores=torch.from_numpy(self.test_scores), val_scores=val)


class ViewCache:
    """The test-view embeddings of one image set (test or validation), kept after the first pass when `reuse`."""

    def __init__(self, model, dataset: ImageDataset, reuse: bool, progress: bool, desc: str,
                 timer: PhaseTimer = untimed):
        self.model, self.dataset, self.reuse, self.progress, self.desc = model, dataset, reuse, progress, desc
        self.timer = timer
        self.cached: torch.Tensor | None = None
        self.passes = 0
        """How many times the views went through the backbone."""

    def embeddings(self) -> torch.Tensor:
        if self.cached is not None:
            return self.cached
        emb = embed_test_views(self.model, self.dataset, self.progress, self.desc, self.timer)
        self.passes += 1
        if self.reuse:
            self.cached = emb
        return emb


class Evaluator:
    """Scores the test set (and the validation split, if any) with the model as it is now; `last` is the latest
    evaluation."""

    def __init__(self, model, test_set: ImageDataset, val_set: ImageDataset | None, reuse: bool, progress: bool,
                 timer: PhaseTimer = untimed):
        self.model, self.timer = model, timer
        self.test = ViewCache(model, test_set, reuse, progress, "test views", timer)
        self.val = (ViewCache(model, val_set, reuse, progress, "validation views", timer)
                    if val_set is not None else None)
        self.last: Evaluation | None = None

    def __call__(self) -> Evaluation:
        self.model.eval()
        emb = self.test.embeddings()
        with self.timer("flow"):
            result = Evaluation(score_embeddings(self.model, emb).numpy())
        if self.val is not None:
            emb = self.val.embeddings()
            with self.timer("flow"):
                scores, loss = scores_and_loss(self.model, emb)
            result.val_scores, result.val_loss, result.val_score_mean = scores.numpy(), loss, float(scores.mean())
        self.last = result
        return result


def auroc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    """The test AUROC, NaN when the test set holds one class only (a folder of good images)."""
    return auroc(labels, scores) if len(set(labels.tolist())) == 2 else math.nan
