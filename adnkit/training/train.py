"""Training: run_training(cfg, out_dir) fits the flow, evaluates after every meta epoch and writes the run.

What a run folder holds is adnkit.runs.folder's business (docs/design.md lists it): the config, one history row per
evaluation, the metrics and threshold, the weights, the test scores and a resume checkpoint rewritten
atomically after every meta epoch, so a crash or Ctrl-C loses at most one meta epoch (`resume=True` continues).

Speed: when nothing trainable sits in the backbone (DifferNet, or attention left at init), the embeddings of
a pool of `feature_cache_views` random rotations per training image and of the T fixed test rotations are
computed once; the flow then trains on cached rows (T views drawn from the pool per image and step) and
every evaluation is a pass through the flow alone. Otherwise (train_attention, or feature_cache_views=0) each
step rotates and embeds fresh random views, as the original code does.

"auroc_best" is the maximum test AUROC over the evaluations, i.e. chosen on the test set as in the papers;
"auroc_last" is the honest number of the final model. Both are reported.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from adnkit import __version__
from adnkit.config.settings import Config
from adnkit.core.device import peak_rss_mb, resolve_device
from adnkit.core.errors import AdnkitError
from adnkit.data import ImageDataset, load_split
from adnkit.evaluation.summary import BEST_NOTE, auroc
from adnkit.evaluation.test_metrics import METRIC_NOTES, test_metrics
from adnkit.evaluation.threshold import choose_threshold
from adnkit.model import fastpath
from adnkit.model.differnet import DifferNet
from adnkit.model.embedding import embed_views, pooled_angle_fn, views_of
from adnkit.model.flow import nll_loss
from adnkit.model.scoring import ROWS_PER_BATCH, embed_test_views, mean_nll, score_embeddings
from adnkit.runs.folder import HistoryRow, Metrics, Run


class TrainingError(AdnkitError):
    """Training cannot go on (non-finite loss); the last good checkpoint is kept."""


def _check_finite(loss: torch.Tensor, meta: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"loss became {loss.item()} at meta epoch {meta}, step {step}; the last good checkpoint is kept. "
            "Lower --lr, or check the data (constant or corrupt images)"
        )


def _step(model, optimizer, rows: torch.Tensor, meta: int, step: int, embedded: bool) -> float:
    z, log_jac_det = model.flow_forward(rows) if embedded else model(rows)
    loss = nll_loss(z, log_jac_det)
    _check_finite(loss, meta, step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def _epoch_cached(model, optimizer, pool: torch.Tensor, cfg: Config, gen: torch.Generator, meta: int) -> list[float]:
    """One pass over the training images on cached embeddings; T views per image drawn from its pool."""
    n, v, d = pool.shape
    losses = []
    order = torch.randperm(n, generator=gen)
    for step, start in enumerate(range(0, n, cfg.batch_size)):
        idx = order[start:start + cfg.batch_size]
        if cfg.train_transforms <= v:
            pick = torch.rand(len(idx), v, generator=gen).argsort(dim=1)[:, :cfg.train_transforms]
        else:
            pick = torch.randint(v, (len(idx), cfg.train_transforms), generator=gen)
        rows = pool[idx[:, None], pick].reshape(-1, d).to(model.device)
        losses.append(_step(model, optimizer, rows, meta, step, embedded=True))
    return losses


def _epoch_images(model, optimizer, train_set, cfg: Config, gen: torch.Generator, meta: int) -> list[float]:
    """One pass over the training images with fresh random rotations through the backbone every step."""
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers)
    losses = []
    for step, (images, _) in enumerate(loader):
        angles = torch.rand(len(images), cfg.train_transforms, generator=gen, dtype=torch.float64) * 360.0 - 180.0
        rows = views_of(images.to(model.device), angles)
        losses.append(_step(model, optimizer, rows, meta, step, embedded=False))
    return losses


def _auroc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    return auroc(labels, scores) if len(set(labels.tolist())) == 2 else float("nan")


class _ViewCache:
    """The test-view embeddings of one image set (test or validation), computed once when the backbone is
    frozen and the rotations fixed, so that every evaluation is a pass through the flow alone."""

    def __init__(self, model, dataset, reuse: bool, progress: bool, desc: str):
        self.model, self.dataset, self.reuse, self.progress, self.desc = model, dataset, reuse, progress, desc
        self.cached: torch.Tensor | None = None

    def embeddings(self) -> torch.Tensor:
        if self.cached is not None:
            return self.cached
        emb = embed_test_views(self.model, self.dataset, self.progress, self.desc)
        if self.reuse:
            self.cached = emb
        return emb

    def scores(self) -> np.ndarray:
        return score_embeddings(self.model, self.embeddings()).numpy()


def run_training(cfg: Config, out_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train one detector on cfg.data and write the run folder; returns the metrics dict."""
    if resume:
        if not Run(out_dir).is_started:
            raise AdnkitError(f"{out_dir}: nothing to resume (no run there); start it with "
                              f"`adnkit train ... --out {out_dir}`")
        # The run's own settings; only where it computes may change.
        cfg = Run.open(out_dir).config.replace(device=cfg.device, num_workers=cfg.num_workers)
    elif Run(out_dir).is_started:
        raise AdnkitError(f"{out_dir} already holds a run; continue it with --resume, or choose another --out")
    device = resolve_device(cfg.device)  # bad device or data: fail before the folder is claimed
    split = load_split(cfg)
    run = Run(out_dir, cfg) if resume else Run.create(out_dir, cfg)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train_set = ImageDataset(split.train, cfg.image_size, min_side=cfg.min_image_side)
    test_set = ImageDataset(split.test, cfg.image_size, min_side=cfg.min_image_side)
    labels = np.array([s.label for s in split.test])

    model = DifferNet(cfg, progress=progress).to(device)
    if device.type == "cuda" and cfg.channels_last:
        model.backbone.to(memory_format=torch.channels_last)
    optimizer, fast = fastpath.setup(model, cfg, device)  # Adam impl, bf16 Linear layers, compile (issue 14)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[HistoryRow] = []
    val_best: dict | None = None  # select=val: the stored state of the evaluation with the lowest val loss
    done, train_seconds, eval_seconds, evals = 0, 0.0, 0.0, 0
    ckpt = run.load_checkpoint() if resume else None
    if ckpt is not None:
        model.load_stored_state(ckpt["model"], run.path)
        fastpath.load_optimizer_state(optimizer, ckpt["optimizer"], fast["optimizer"])
        gen.set_state(ckpt["generator"])
        history, done = [HistoryRow(**h) for h in ckpt["history"]], int(ckpt["meta_epoch"])
        train_seconds, eval_seconds, evals = ckpt["train_seconds"], ckpt["eval_seconds"], ckpt["evals"]
        val_best = ckpt.get("val_best")

    frozen = not model.backbone.has_trainable
    pool = None
    if frozen and cfg.feature_cache_views > 0 and done < cfg.meta_epochs:
        t0 = time.perf_counter()
        pool = embed_views(model, train_set, cfg.feature_cache_views,
                           pooled_angle_fn(len(train_set), cfg.feature_cache_views, cfg.seed),
                           rows_per_batch=ROWS_PER_BATCH, num_workers=cfg.num_workers,
                           desc="train views (cached once)", progress=progress)
        train_seconds += time.perf_counter() - t0
    reuse = frozen and not cfg.random_test_rotations
    test_views = _ViewCache(model, test_set, reuse, progress, "test views")
    val_views = (
        _ViewCache(
            model,
            ImageDataset(split.val, cfg.image_size, min_side=cfg.min_image_side),
            reuse,
            progress,
            "validation views",
        )
        if split.val
        else None
    )

    def evaluate() -> tuple[np.ndarray, float, float]:
        """Test scores, validation loss and mean validation score (NaN without a validation split)."""
        model.eval()
        scores = test_views.scores()
        if val_views is None:
            return scores, math.nan, math.nan
        emb = val_views.embeddings()
        return scores, mean_nll(model, emb), float(score_embeddings(model, emb).mean())

    started = time.perf_counter()
    bar = tqdm(range(done + 1, cfg.meta_epochs + 1), desc=f"{split.name} {cfg.attention}", unit="meta epoch",
               disable=not progress, initial=done, total=cfg.meta_epochs)
    scores = None
    for meta in bar:
        t0 = time.perf_counter()
        model.train()
        losses: list[float] = []
        for _ in range(cfg.sub_epochs):
            if pool is not None:
                losses += _epoch_cached(model, optimizer, pool, cfg, gen, meta)
            else:
                losses += _epoch_images(model, optimizer, train_set, cfg, gen, meta)
        train_seconds += time.perf_counter() - t0
        t0 = time.perf_counter()
        scores, val_loss, val_score = evaluate()
        eval_seconds += time.perf_counter() - t0
        evals += 1
        if not np.isfinite(scores).all():
            raise TrainingError(f"non-finite test scores after meta epoch {meta}; the last good checkpoint is kept. "
                                "Lower --lr or check the data")
        row = HistoryRow(meta_epoch=meta, epoch=meta * cfg.sub_epochs, train_loss=float(np.mean(losses)),
                         auroc=_auroc_or_nan(labels, scores), seconds=time.perf_counter() - started,
                         val_loss=val_loss, val_score_mean=val_score)
        history.append(row)
        if cfg.select == "val" and np.isfinite(val_loss) and (val_best is None or val_loss < val_best["val_loss"]):
            val_best = dict(meta_epoch=meta, val_loss=val_loss, model=model.stored_state())
        bar.set_postfix(loss=f"{row.train_loss:.3f}", auroc=f"{row.auroc:.3f}")
        run.save_checkpoint(dict(model=model.stored_state(), optimizer=optimizer.state_dict(),
                                 generator=gen.get_state(), history=[vars(h) for h in history], meta_epoch=meta,
                                 train_seconds=train_seconds, eval_seconds=eval_seconds, evals=evals,
                                 val_best=val_best))
        run.write_history(history)

    if scores is None:  # resumed a finished run: score once more with the stored weights
        t0 = time.perf_counter()
        scores = evaluate()[0]
        eval_seconds += time.perf_counter() - t0
        evals += 1
    last_scores = scores
    if cfg.select == "val" and val_best is not None:  # keep the val-selected model instead of the last one
        model.load_stored_state(val_best["model"], run.path)
        scores = evaluate()[0]

    model.eval()
    val_scores = val_views.scores() if val_views is not None else None
    threshold = choose_threshold(
        cfg.threshold_method, val_scores=val_scores, test_labels=labels, test_scores=scores,
        train_scores=_train_scores(model, cfg, pool, train_set, labels, val_scores, progress),
        target_fpr=cfg.target_fpr, quantile=cfg.threshold_quantile)
    run.save_model(model.stored_state(), adnkit_version=__version__)
    run.write_scores(pd.DataFrame(dict(path=[str(s.path) for s in split.test], label=labels,
                                       defect=[s.defect for s in split.test], score=scores)))

    epochs_done = history[-1].meta_epoch * cfg.sub_epochs if history else 0
    metrics = _metrics(cfg, history, labels, last_scores, scores, threshold, val_best)
    metrics.update(
        train_seconds=float(train_seconds), eval_seconds=float(eval_seconds),
        train_images_per_s=float(len(train_set) * epochs_done / max(train_seconds, 1e-9)),
        test_images_per_s=float(len(test_set) * evals / max(eval_seconds, 1e-9)),
        peak_rss_mb=float(peak_rss_mb()),
        cuda_peak_mb=float(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else 0.0,
        n_train=len(train_set), n_test=len(test_set), attention=cfg.attention, seed=int(cfg.seed),
        dataset=split.dataset, category=split.category, device=str(device), feature_cache=pool is not None,
        weights_source=model.backbone.weights_source, adnkit_version=__version__,
        fast_path=fastpath.describe(fast),
    )
    metrics = Metrics.from_dict(metrics)
    run.write_metrics(metrics)
    return metrics.to_dict()


def _train_scores(model, cfg: Config, pool, train_set, labels, val_scores, progress: bool):
    """The training images' scores, only when the threshold needs them (train_quantile, or a fallback)."""
    needed = (cfg.threshold_method == "train_quantile"
              or (cfg.threshold_method == "val_fpr" and val_scores is None)
              or (cfg.threshold_method == "youden" and len(set(labels.tolist())) < 2))
    if not needed:
        return None
    emb = pool if pool is not None else embed_test_views(model, train_set, progress, "train scores")
    return score_embeddings(model, emb).numpy()


def _metrics(cfg: Config, history: list[HistoryRow], labels, last_scores, kept_scores, threshold,
             val_best: dict | None) -> dict:
    """The numbers of metrics.json that come from the evaluations and the test scores, with their notes."""
    aurocs = [h.auroc for h in history]
    best = int(np.nanargmax(aurocs)) if not all(math.isnan(a) for a in aurocs) else len(aurocs) - 1
    val_losses = np.array([h.val_loss for h in history], dtype=float)
    has_val = bool(np.isfinite(val_losses).any())
    val_pick = int(np.nanargmin(val_losses)) if has_val else None
    kept = test_metrics(labels, kept_scores, threshold.value, n_resamples=cfg.bootstrap_resamples, seed=cfg.seed)
    last_ci = (kept["auroc_ci"] if cfg.select == "last" else
               test_metrics(labels, last_scores, None, n_resamples=cfg.bootstrap_resamples, seed=cfg.seed)["auroc_ci"])
    thresholds = threshold.as_dict()
    notes = {
        "auroc_last": "test AUROC of the model after the final epoch",
        "auroc_best": "max test AUROC over the evaluations: chosen on the test set, as the papers print it "
                      "(optimistic)",
        "auroc_val_selected": "test AUROC at the evaluation with the lowest validation loss: chosen without "
                              "test labels" if has_val else "no validation split (val_fraction 0)",
        "auroc_last_ci": METRIC_NOTES["auroc_ci"],
        "selected": f"model.pt and scores.csv hold the {'val-selected' if cfg.select == 'val' else 'last'} model; "
                    "aupr, f1_max, fpr_at_95_tpr and the test_* rates describe it",
        **{k: METRIC_NOTES[k] for k in ("aupr", "f1_max", "fpr_at_95_tpr")},
        **{f"test_{k}": METRIC_NOTES[k] for k in ("tpr", "fpr", "precision", "f1")},
    }
    return dict(
        auroc_last=float(aurocs[-1]), auroc_best=float(aurocs[best]), best_epoch=int(history[best].meta_epoch),
        best_note=BEST_NOTE, meta_epochs=int(history[-1].meta_epoch),
        auroc_val_selected=float(aurocs[val_pick]) if has_val else math.nan,
        val_selected_epoch=int(history[val_pick].meta_epoch) if has_val else 0,
        selected="val" if cfg.select == "val" and val_best is not None else "last",
        auroc_last_ci=[float(v) for v in last_ci], aupr=kept["aupr"], f1_max=kept["f1_max"],
        fpr_at_95_tpr=kept["fpr_at_95_tpr"], test_tpr=kept["tpr"], test_fpr=kept["fpr"],
        test_precision=kept["precision"], test_f1=kept["f1"],
        threshold=thresholds["threshold"], threshold_method=thresholds["threshold_note"],
        threshold_requested=thresholds["threshold_requested"], threshold_kind=thresholds["threshold_method"],
        threshold_target_fpr=thresholds["threshold_target_fpr"], threshold_val_fpr=thresholds["threshold_val_fpr"],
        n_val=thresholds["n_val"], notes=notes,
    )


def train_or_load(runs_dir: str | Path, cfg: Config, progress: bool = True) -> Path:
    """The run folder of exactly these settings under `runs_dir`: reused when it is finished, resumed when it
    was interrupted, trained otherwise. The folder name carries the variant, the seed and a hash of the config."""
    key = hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]
    run_dir = Path(runs_dir) / f"{cfg.attention}{'-trained' if cfg.train_attention else ''}-seed{cfg.seed}-{key}"
    run = Run(run_dir)
    if not run.is_finished:
        run_training(cfg, run_dir, resume=run.is_started, progress=progress)
    return run_dir
