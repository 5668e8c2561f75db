"""Training: run_training(cfg, out_dir) fits the flow, evaluates after every meta epoch and writes the run.

What a run folder holds (the contract of DESIGN.md): config.json, history.csv (one row per evaluation),
metrics.json, model.pt (weights + decision threshold), scores.csv (path, label, defect, score of every test
image under the last model) and checkpoint.pt (resume state, rewritten atomically after every meta epoch, so
a crash or Ctrl-C loses at most one meta epoch; `resume=True` continues from it).

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
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from adnkit import __version__, fastpath
from adnkit.checkpoint import load_torch, save_json, save_text, save_torch
from adnkit.config import Config
from adnkit.data import ImageDataset, load_split
from adnkit.errors import AdnkitError
from adnkit.features import embed_views, fixed_angle_fn, pooled_angle_fn, score_embeddings, views_of
from adnkit.flow import nll_loss
from adnkit.metrics import auroc, choose_threshold
from adnkit.model import DifferNet
from adnkit.views import fixed_angles

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.pt"
ROWS_PER_BATCH = 96  # views through the backbone at once when embedding (the paper's 24 x 4)


class TrainingError(AdnkitError):
    """Training cannot go on (non-finite loss); the last good checkpoint is kept."""


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA if present else CPU; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AdnkitError(f"device={name!r} but no CUDA GPU is visible; use --device cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise AdnkitError(f"device={name!r} is not a torch device; use auto, cpu or cuda[:N]") from None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def weights_state(model: DifferNet) -> dict[str, torch.Tensor]:
    """What a run must store: everything but the ImageNet convolutions, which reload from their source."""
    skip = "backbone.features." if model.cfg.pretrained == "imagenet" else "\0"
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith(skip)}


def load_weights(model: DifferNet, state: dict[str, torch.Tensor], where: Path) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("backbone.features.")]
    if missing or unexpected:
        raise AdnkitError(f"{where}: weights do not fit this config (missing {missing[:3]}, unexpected "
                          f"{unexpected[:3]}); was config.json edited?")


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


def test_angle_fn(cfg: Config, n_images: int):
    """Fixed angles k*360/T (default), or per-image random ones when cfg.random_test_rotations."""
    if cfg.random_test_rotations:
        return pooled_angle_fn(n_images, cfg.test_transforms, seed=cfg.seed + 1)
    return fixed_angle_fn(fixed_angles(cfg.test_transforms))


def embed_test_set(model, dataset, cfg: Config, progress: bool, desc: str = "test views") -> torch.Tensor:
    return embed_views(model, dataset, cfg.test_transforms, test_angle_fn(cfg, len(dataset)),
                       rows_per_batch=ROWS_PER_BATCH, num_workers=cfg.num_workers, desc=desc, progress=progress)


def _auroc_or_nan(labels: np.ndarray, scores: np.ndarray) -> float:
    return auroc(labels, scores) if len(set(labels.tolist())) == 2 else float("nan")


def run_training(cfg: Config, out_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train one detector on cfg.data and write the run folder; returns the metrics dict."""
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    if resume:
        if not (out / "config.json").is_file():
            raise AdnkitError(f"{out}: nothing to resume (no config.json); start it with `adnkit train ... --out {out}`")
        cfg = Config.from_json(out / "config.json").replace(device=cfg.device, num_workers=cfg.num_workers)
    elif (out / "config.json").exists():
        raise AdnkitError(f"{out} already holds a run; continue it with --resume, or choose another --out")
    device = resolve_device(cfg.device)  # bad device or data: fail before the folder is claimed
    split = load_split(cfg)
    out.mkdir(parents=True, exist_ok=True)
    save_text(cfg.to_json() + "\n", out / "config.json")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train_set = ImageDataset(split.train, cfg.image_size)
    test_set = ImageDataset(split.test, cfg.image_size)
    labels = np.array([s.label for s in split.test])

    model = DifferNet(cfg, progress=progress).to(device)
    if device.type == "cuda" and cfg.channels_last:
        model.backbone.to(memory_format=torch.channels_last)
    optimizer, fast = fastpath.setup(model, cfg, device)  # Adam impl, bf16 Linear layers, compile (issue 14)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    done, train_seconds, eval_seconds, evals = 0, 0.0, 0.0, 0
    if resume and ckpt_path.is_file():
        ckpt = load_torch(ckpt_path)
        load_weights(model, ckpt["model"], ckpt_path)
        fastpath.load_optimizer_state(optimizer, ckpt["optimizer"], fast["optimizer"])
        gen.set_state(ckpt["generator"])
        history, done = list(ckpt["history"]), int(ckpt["meta_epoch"])
        train_seconds, eval_seconds, evals = ckpt["train_seconds"], ckpt["eval_seconds"], ckpt["evals"]

    frozen = not model.backbone.has_trainable
    pool = test_cache = None
    if frozen and cfg.feature_cache_views > 0 and done < cfg.meta_epochs:
        t0 = time.perf_counter()
        pool = embed_views(model, train_set, cfg.feature_cache_views,
                           pooled_angle_fn(len(train_set), cfg.feature_cache_views, cfg.seed),
                           rows_per_batch=ROWS_PER_BATCH, num_workers=cfg.num_workers,
                           desc="train views (cached once)", progress=progress)
        train_seconds += time.perf_counter() - t0

    def evaluate() -> np.ndarray:
        nonlocal test_cache
        model.eval()
        if test_cache is not None:
            return score_embeddings(model, test_cache).numpy()
        emb = embed_test_set(model, test_set, cfg, progress)
        if frozen and not cfg.random_test_rotations:
            test_cache = emb
        return score_embeddings(model, emb).numpy()

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
        scores = evaluate()
        eval_seconds += time.perf_counter() - t0
        evals += 1
        if not np.isfinite(scores).all():
            raise TrainingError(f"non-finite test scores after meta epoch {meta}; the last good checkpoint is kept. "
                                "Lower --lr or check the data")
        row = dict(meta_epoch=meta, epoch=meta * cfg.sub_epochs, train_loss=float(np.mean(losses)),
                   auroc=_auroc_or_nan(labels, scores), seconds=time.perf_counter() - started)
        history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", auroc=f"{row['auroc']:.3f}")
        save_torch(dict(model=weights_state(model), optimizer=optimizer.state_dict(), generator=gen.get_state(),
                        history=history, meta_epoch=meta, train_seconds=train_seconds, eval_seconds=eval_seconds,
                        evals=evals), ckpt_path)
        save_text(pd.DataFrame(history).to_csv(index=False), out / "history.csv")

    if scores is None:  # resumed a finished run: score once more with the stored weights
        t0 = time.perf_counter()
        scores = evaluate()
        eval_seconds += time.perf_counter() - t0
        evals += 1

    train_scores = None
    if cfg.threshold_method == "train_quantile" or len(set(labels.tolist())) < 2:
        train_scores = (score_embeddings(model, pool) if pool is not None
                        else score_embeddings(model, embed_test_set(model, train_set, cfg, progress, "train scores"))).numpy()
    threshold, how = choose_threshold(labels, scores, cfg.threshold_method, train_scores=train_scores,
                                      quantile=cfg.threshold_quantile)
    save_torch(dict(model=weights_state(model), config=cfg.to_dict(), threshold=float(threshold), threshold_method=how,
                    adnkit_version=__version__), out / WEIGHTS)
    save_text(pd.DataFrame(dict(path=[str(s.path) for s in split.test], label=labels,
                                defect=[s.defect for s in split.test], score=scores)).to_csv(index=False),
              out / "scores.csv")

    aurocs = [h["auroc"] for h in history]
    best = int(np.nanargmax(aurocs)) if not all(math.isnan(a) for a in aurocs) else len(aurocs) - 1
    epochs_done = history[-1]["meta_epoch"] * cfg.sub_epochs if history else 0
    metrics = dict(
        auroc_last=float(aurocs[-1]), auroc_best=float(aurocs[best]), best_epoch=int(history[best]["meta_epoch"]),
        best_note="auroc_best = max over the evaluations on the test set (as in the papers); auroc_last = final model",
        train_seconds=float(train_seconds), eval_seconds=float(eval_seconds),
        train_images_per_s=float(len(train_set) * epochs_done / max(train_seconds, 1e-9)),
        test_images_per_s=float(len(test_set) * evals / max(eval_seconds, 1e-9)),
        peak_rss_mb=float(peak_rss_mb()),
        cuda_peak_mb=float(torch.cuda.max_memory_allocated() / 2**20) if device.type == "cuda" else 0.0,
        n_train=len(train_set), n_test=len(test_set), attention=cfg.attention, seed=int(cfg.seed),
        dataset=split.dataset, category=split.category, threshold=float(threshold), threshold_method=how,
        device=str(device), feature_cache=pool is not None, weights_source=model.backbone.weights_source,
        meta_epochs=int(history[-1]["meta_epoch"]), adnkit_version=__version__,
        fast_path=fastpath.describe(fast),
    )
    save_json(metrics, out / "metrics.json")
    return metrics


def train_or_load(runs_dir: str | Path, cfg: Config, progress: bool = True) -> Path:
    """The run folder of exactly these settings under `runs_dir`: reused when it is finished, resumed when it
    was interrupted, trained otherwise. The folder name carries the variant, the seed and a hash of the config."""
    key = hashlib.sha1(cfg.to_json().encode()).hexdigest()[:8]
    run_dir = Path(runs_dir) / f"{cfg.attention}{'-trained' if cfg.train_attention else ''}-seed{cfg.seed}-{key}"
    if not (run_dir / "metrics.json").is_file():
        run_training(cfg, run_dir, resume=(run_dir / "config.json").is_file(), progress=progress)
    return run_dir
