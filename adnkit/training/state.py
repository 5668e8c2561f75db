"""Where a run starts from: a new run folder, or the last checkpoint of an interrupted one.

`open_run` is the one place that decides whether a training run starts or continues (the command line's
--resume, the benchmark's reuse of an interrupted cell and train_or_reuse all come through it). `Progress` is
what a checkpoint carries besides the weights: the history so far, the timers, the val-selected state and the
random generator, so that a resumed run goes on exactly where the interrupted one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from adnkit.config import Config
from adnkit.core.errors import AdnkitError
from adnkit.model import fastpath
from adnkit.runs.folder import HistoryRow, Run

RESUME_CHOICES = (False, True, "auto")


def open_run(cfg: Config, out_dir: str | Path, resume: bool | str) -> tuple[Config, bool]:
    """The settings to train with and whether the run in `out_dir` continues.

    resume=False: a new run; a folder that holds one is refused. resume=True: continue the run there with its
    own settings (only `device` and `num_workers` come from `cfg`); no run there is refused. resume="auto":
    continue when the folder holds a started run, else start one."""
    if resume not in RESUME_CHOICES:
        raise AdnkitError(f"resume={resume!r}: use False, True or 'auto'")
    started = Run(out_dir).is_started
    if resume == "auto":
        resume = started
    if resume and not started:
        raise AdnkitError(f"{out_dir}: nothing to resume (no run there); start it with "
                          f"`adnkit train ... --out {out_dir}`")
    if not resume and started:
        raise AdnkitError(f"{out_dir} already holds a run; continue it with --resume, or choose another --out")
    if resume:
        return Run.open(out_dir).config.replace(device=cfg.device, num_workers=cfg.num_workers), True
    return cfg, False


@dataclass
class Progress:
    """How far a run has got: meta epochs done, the evaluations' history, timers, the val-selected state."""

    done: int = 0
    history: list[HistoryRow] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    evals: int = 0
    val_best: dict | None = None
    """select=val: the evaluation with the lowest validation loss: its meta epoch, loss, model state (a copy) and
    scores (test_scores, val_scores)."""

    def checkpoint(self, model, optimizer, gen: torch.Generator) -> dict:
        """Everything a resumed run needs (weights-only loadable: tensors, numbers, strings, containers).
        optimizer=None leaves Adam's state out: a finished run takes no further step."""
        return dict(model=model.stored_state(), optimizer=None if optimizer is None else optimizer.state_dict(),
                    generator=gen.get_state(),
                    history=[vars(h) for h in self.history], meta_epoch=self.done, train_seconds=self.train_seconds,
                    eval_seconds=self.eval_seconds, evals=self.evals, val_best=self.val_best)

    @classmethod
    def restore(cls, ckpt: dict, model, optimizer, fast: dict, gen: torch.Generator, where) -> Progress:
        """Load a checkpoint into the model, optimiser and generator; the progress it recorded."""
        model.load_stored_state(ckpt["model"], where)
        if ckpt["optimizer"] is not None:
            fastpath.load_optimizer_state(optimizer, ckpt["optimizer"], fast["optimizer"])
        gen.set_state(ckpt["generator"])
        return cls(done=int(ckpt["meta_epoch"]), history=[HistoryRow(**h) for h in ckpt["history"]],
                   train_seconds=ckpt["train_seconds"], eval_seconds=ckpt["eval_seconds"], evals=ckpt["evals"],
                   val_best=ckpt.get("val_best"))
