"""What a finished training run records: its decision threshold, the numbers of metrics.json that come from
the evaluations and the test scores (the AUROCs, the registered per-run metrics, the threshold, their notes), and
those that say how the run went (timers, speeds, memory, versions)."""

from __future__ import annotations

import math

import numpy as np
import torch

from adnkit.config import Config
from adnkit.core.device import peak_rss_mb
from adnkit.core.version import __version__
from adnkit.evaluation.run_metrics import TestScores, run_metric_values
from adnkit.evaluation.summary import BEST_NOTE
from adnkit.evaluation.threshold import Threshold, choose_threshold
from adnkit.model import fastpath
from adnkit.model.scoring import embed_test_views, score_embeddings
from adnkit.runs.folder import HistoryRow


def run_threshold(cfg: Config, model, val_scores, labels, test_scores, pool, train_set, progress: bool) -> Threshold:
    """The threshold cfg.threshold_method gives; the training images are scored only when it needs them
    (train_quantile, or a fallback to it)."""
    needed = (cfg.threshold_method == "train_quantile"
              or (cfg.threshold_method == "val_fpr" and val_scores is None)
              or (cfg.threshold_method == "youden" and len(set(labels.tolist())) < 2))
    train_scores = None
    if needed:
        emb = pool if pool is not None else embed_test_views(model, train_set, progress, "train scores")
        train_scores = score_embeddings(model, emb).numpy()
    return choose_threshold(cfg.threshold_method, val_scores=val_scores, test_labels=labels, test_scores=test_scores,
                            train_scores=train_scores, target_fpr=cfg.target_fpr, quantile=cfg.threshold_quantile)


def evaluation_record(cfg: Config, history: list[HistoryRow], test: TestScores, threshold: Threshold,
                      kept_val: bool) -> dict:
    """The metrics.json keys that come from the evaluations (auroc_last, auroc_best, auroc_val_selected, ...),
    the registered run metrics, the threshold's record, and the notes that say what each means."""
    aurocs = [h.auroc for h in history]
    best = int(np.nanargmax(aurocs)) if not all(math.isnan(a) for a in aurocs) else len(aurocs) - 1
    val_losses = np.array([h.val_loss for h in history], dtype=float)
    has_val = bool(np.isfinite(val_losses).any())
    val_pick = int(np.nanargmin(val_losses)) if has_val else None
    values, notes = run_metric_values(test)
    notes = {
        "auroc_last": "test AUROC of the model after the final epoch",
        "auroc_best": "max test AUROC over the evaluations: chosen on the test set, as the papers print it "
                      "(optimistic)",
        "auroc_val_selected": "test AUROC at the evaluation with the lowest validation loss: chosen without "
                              "test labels" if has_val else "no validation split (val_fraction 0)",
        "selected": f"model.pt and scores.csv hold the {'val-selected' if cfg.select == 'val' else 'last'} "
                    "model; aupr, "
                    "f1_max, fpr_at_95_tpr and the test_* rates describe it",
        **notes,
    }
    return dict(
        auroc_last=float(aurocs[-1]), auroc_best=float(aurocs[best]), best_epoch=int(history[best].meta_epoch),
        best_note=BEST_NOTE, meta_epochs=int(history[-1].meta_epoch),
        auroc_val_selected=float(aurocs[val_pick]) if has_val else math.nan,
        val_selected_epoch=int(history[val_pick].meta_epoch) if has_val else 0,
        selected="val" if kept_val else "last", **values, **threshold.to_record(), notes=notes,
    )


def run_record(cfg: Config, done, device, pool, model, fast: dict, split, n_train: int, n_test: int) -> dict:
    """The metrics.json keys that describe how the run went: timers, speeds, memory, sizes, versions."""
    epochs_done = done.history[-1].meta_epoch * cfg.sub_epochs if done.history else 0
    return dict(
        train_seconds=float(done.train_seconds), eval_seconds=float(done.eval_seconds),
        train_images_per_s=float(n_train * epochs_done / max(done.train_seconds, 1e-9)),
        test_images_per_s=float(n_test * done.evals / max(done.eval_seconds, 1e-9)),
        peak_rss_mb=float(peak_rss_mb()),
        cuda_peak_mb=float(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else 0.0,
        n_train=n_train, n_test=n_test, attention=cfg.attention, seed=int(cfg.seed),
        dataset=split.dataset, category=split.category, device=str(device), feature_cache=pool is not None,
        weights_source=model.backbone.weights_source, adnkit_version=__version__, fast_path=fastpath.describe(fast),
    )
