"""Training: train(cfg, out_dir) fits the flow, evaluates after every meta epoch and writes the run folder.

What a run folder holds is adnkit.runs.folder's business (docs/design.md lists it): the config, one history row per
evaluation, the metrics and threshold, the weights, the test scores and a resume checkpoint, written atomically in
the background at most every `checkpoint_minutes` and after the last meta epoch; Ctrl-C or an error writes the last
finished meta epoch before stopping (adnkit.training.checkpoints says what a crash can lose; resume=True continues;
adnkit.training.state decides whether a run starts or continues).

Speed: when nothing trainable sits in the backbone (DifferNet, or attention left at init), the embeddings of
a pool of `feature_cache_views` random rotations per training image and of the T test rotations are
computed once; the flow then trains on cached rows (T views drawn from the pool per image and step) and
every evaluation is a pass through the flow alone. Otherwise (train_attention, or feature_cache_views=0) each
step rotates and embeds fresh random views, as the original code does. Where the time goes is recorded per phase
(adnkit.training.phases; metrics.json's `phases`).

"auroc_best" is the maximum test AUROC over the evaluations, i.e. chosen on the test set as in the papers;
"auroc_last" is the honest number of the final model. Both are reported.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from adnkit.config import Config
from adnkit.core.device import device_record, resolve_device
from adnkit.core.formatting import safe_name
from adnkit.core.version import __version__
from adnkit.data import ImageDataset, load_split
from adnkit.evaluation.run_metrics import TestScores
from adnkit.model import fastpath
from adnkit.model.differnet import DifferNet
from adnkit.model.embedding import embed_views, pooled_angle_fn
from adnkit.model.scoring import ROWS_PER_BATCH
from adnkit.runs.folder import HistoryRow, Metrics, Run
from adnkit.training import steps
from adnkit.training.allocator import reused_memory
from adnkit.training.checkpoints import Checkpoints, copy_into
from adnkit.training.decoded import decoded_once
from adnkit.training.evaluation import Evaluation, Evaluator, auroc_or_nan
from adnkit.training.phases import Phases, process_age
from adnkit.training.results import evaluation_record, run_record, run_threshold
from adnkit.training.state import Progress, open_run
from adnkit.training.steps import TrainingError


def train(cfg: Config, out_dir: str | Path, resume: bool | str = False, progress: bool = True) -> dict:
    """Train one detector on cfg.data and write the run folder; returns the metrics dict. `resume`: False (a new
    run), True (continue the run in out_dir) or "auto" (continue if there is one): adnkit.training.state."""
    startup = process_age()
    with reused_memory():
        return _train(cfg, out_dir, resume, progress, startup)


def _train(cfg: Config, out_dir: str | Path, resume: bool | str, progress: bool, startup: float) -> dict:
    """train() with every block timed as a phase (metrics.json's `phases`)."""
    phases = Phases()
    with phases("setup"):
        cfg, resuming = open_run(cfg, out_dir, resume)
        device = resolve_device(cfg.device)  # bad device or data: fail before the folder is claimed
        phases.sync = device.type == "cuda"
    with phases("data"):
        split = load_split(cfg)
    with phases("setup"):
        run = Run(out_dir, cfg) if resuming else Run.create(out_dir, cfg)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
    with phases("data"):
        train_set = ImageDataset(split.train, cfg.image_size, min_side=cfg.min_image_side)
        test_set = ImageDataset(split.test, cfg.image_size, min_side=cfg.min_image_side)
        val_set = ImageDataset(split.val, cfg.image_size, min_side=cfg.min_image_side) if split.val else None
        labels = np.array([s.label for s in split.test])
    with phases("model"):
        model = DifferNet(cfg, progress=progress).to(device)
        if device.type == "cuda" and cfg.channels_last:
            model.backbone.to(memory_format=torch.channels_last)
        optimizer, fast = fastpath.setup(model, cfg, device)
        gen = torch.Generator().manual_seed(cfg.seed)
    with phases("resume"):
        ckpt = run.load_checkpoint() if resuming else None
        done = Progress.restore(ckpt, model, optimizer, fast, gen, run.path) if ckpt is not None else Progress()
        run.remove_partial_checkpoints()
    frozen = not model.backbone.has_trainable
    pool = _view_pool(model, cfg, train_set, done, progress, phases) if frozen else None
    if pool is None and done.done < cfg.meta_epochs:  # fresh rotations every step: decode the images once
        with phases("train.decode"):
            train_set = decoded_once(train_set, cfg.num_workers)
    evaluate = Evaluator(model, test_set, val_set, reuse=frozen, progress=progress,
                         timer=phases.prefixed("eval"))
    checkpoints = Checkpoints(run, cfg.checkpoint_minutes, on_disk=done.done)
    try:
        _meta_epochs(model, optimizer, gen, cfg, run, done, pool, train_set, evaluate, labels, split.name,
                     progress, phases, checkpoints)
        with phases("final"):
            kept, last_scores = _kept_scores(cfg, model, evaluate, done, run.path)
            model.eval()
            threshold = run_threshold(cfg, model, kept.val_scores, labels, kept.test_scores, pool, train_set,
                                      progress)
        with phases("outputs"):
            run.save_model(model.stored_state(), adnkit_version=__version__)
            run.write_scores(pd.DataFrame(dict(path=[str(s.path) for s in split.test], label=labels,
                                               defect=[s.defect for s in split.test], score=kept.test_scores)))
        with phases("metrics"):
            test = TestScores(labels, kept.test_scores, last_scores, threshold.value, cfg.bootstrap_resamples,
                              cfg.seed)
            metrics = evaluation_record(cfg, done.history, test, threshold,
                                        cfg.select == "val" and done.val_best is not None)
            metrics.update(run_record(cfg, done, device, pool, model, fast, split, len(train_set), len(test_set)))
            metrics.update(device_record(device))
        with phases("checkpoint"):
            checkpoints.wait()
    except BaseException:
        with phases("checkpoint"):
            checkpoints.flush()
        raise
    timed = phases.record()
    metrics = Metrics.from_dict({**metrics, "phases": timed["wall"], "phases_cpu": timed["cpu"],
                                 "checkpoints": checkpoints.record(), "startup_seconds": startup})
    run.write_metrics(metrics)
    return metrics.to_dict()


def _kept_scores(cfg: Config, model, evaluate: Evaluator, done: Progress, where) -> tuple[Evaluation, np.ndarray]:
    """The evaluation of the model the run keeps (the last one, or with select=val the val-selected one, whose
    weights are loaded into `model`), and the last model's test scores. Scores are those the evaluations
    computed; only a resumed finished run, or a val-selected state from a checkpoint without scores, scores
    again."""
    last = evaluate.last or _timed_eval(evaluate, done)
    best = done.val_best if cfg.select == "val" else None
    if best is None:
        return last, last.test_scores
    model.load_stored_state(best["model"], where)
    if best.get("test_scores") is None:
        return evaluate(), last.test_scores
    val = best.get("val_scores")
    return Evaluation(best["test_scores"].numpy(), None if val is None else val.numpy()), last.test_scores


def _view_pool(model, cfg: Config, train_set, done: Progress, progress: bool, phases: Phases) -> torch.Tensor | None:
    """The cached embeddings [N, V, D] of feature_cache_views random rotations per training image (None when
    the cache is off or training is over); the time it takes counts as training."""
    if cfg.feature_cache_views <= 0 or done.done >= cfg.meta_epochs:
        return None
    t0 = time.perf_counter()
    with phases("train.other"):
        pool = embed_views(model, train_set, cfg.feature_cache_views,
                           pooled_angle_fn(len(train_set), cfg.feature_cache_views, cfg.seed),
                           rows_per_batch=ROWS_PER_BATCH, num_workers=cfg.num_workers,
                           desc="train views (cached once)", progress=progress, timer=phases.prefixed("train"))
    done.train_seconds += time.perf_counter() - t0
    return pool


def _timed_eval(evaluate: Evaluator, done: Progress) -> Evaluation:
    t0 = time.perf_counter()
    with evaluate.timer("other"):
        out = evaluate()
    done.eval_seconds += time.perf_counter() - t0
    done.evals += 1
    return out


def _meta_epochs(model, optimizer, gen, cfg: Config, run: Run, done: Progress, pool, train_set, evaluate, labels,
                 name: str, progress: bool, phases: Phases, checkpoints: Checkpoints) -> None:
    """Train the remaining meta epochs, each followed by an evaluation, a history row and a checkpoint snapshot
    (written when due)."""
    started = time.perf_counter()
    bar = tqdm(range(done.done + 1, cfg.meta_epochs + 1), desc=f"{name} {cfg.attention}", unit="meta epoch",
               disable=not progress, initial=done.done, total=cfg.meta_epochs)
    timer = phases.prefixed("train")
    for meta in bar:
        t0 = time.perf_counter()
        with timer("other"):
            model.train()
            losses: list[float] = []
            for _ in range(cfg.sub_epochs):
                if pool is not None:
                    losses += steps.epoch_cached(model, optimizer, pool, cfg, gen, meta, timer)
                else:
                    losses += steps.epoch_images(model, optimizer, train_set, cfg, gen, meta, timer)
        done.train_seconds += time.perf_counter() - t0
        result = _timed_eval(evaluate, done)
        if not np.isfinite(result.test_scores).all():
            raise TrainingError(f"non-finite test scores after meta epoch {meta}; the last good checkpoint is kept. "
                                "Lower --lr or check the data")
        with evaluate.timer("other"):
            row = HistoryRow(meta_epoch=meta, epoch=meta * cfg.sub_epochs, train_loss=float(np.mean(losses)),
                             auroc=auroc_or_nan(labels, result.test_scores), seconds=time.perf_counter() - started,
                             val_loss=result.val_loss, val_score_mean=result.val_score_mean)
            done.history.append(row)
            done.done = meta
            if cfg.select == "val" and np.isfinite(row.val_loss) and (done.val_best is None
                                                                      or row.val_loss < done.val_best["val_loss"]):
                done.val_best = dict(meta_epoch=meta, val_loss=row.val_loss,
                                     model=copy_into(None, model.stored_state()), **result.stored())
            bar.set_postfix(loss=f"{row.train_loss:.3f}", auroc=f"{100 * row.auroc:.1f}%")
        with phases("checkpoint"):
            last = meta == cfg.meta_epochs  # a finished run takes no further step: Adam's state is not kept
            checkpoints.meta_epoch_done(done.checkpoint(model, None if last else optimizer, gen), meta, last)
        with phases("outputs"):
            run.write_history(done.history)


def train_or_reuse(runs_dir: str | Path, cfg: Config, progress: bool = True) -> Path:
    """The run folder of exactly these settings under `runs_dir`: reused when it is finished, continued when it
    was interrupted, trained otherwise. The folder name carries the variant, the seed and a hash of the config."""
    key = hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]
    name = f"{safe_name(cfg.attention)}{'-trained' if cfg.train_attention else ''}-seed{cfg.seed}-{key}"
    run_dir = Path(runs_dir) / name
    if not Run(run_dir).is_finished:
        train(cfg, run_dir, resume="auto", progress=progress)
    return run_dir
