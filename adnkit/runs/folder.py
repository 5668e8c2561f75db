"""The run folder as one object: `Run` knows every file a run holds and reads and writes them.

    run_dir/
      config.json      every setting used (a Config); enough to reproduce the run
      history.csv      one row per evaluation (HistoryRow)
      metrics.json     the run's numbers and its decision threshold (Metrics)
      model.pt         the trained weights (weights only; ImageNet convolutions reload from their source)
      scores.csv       path, label, defect, score of every test image under the kept model
      checkpoint.pt    resume state, rewritten atomically (adnkit.training.checkpoints says when)
      error.txt        the traceback of a failed attempt (written by the benchmark)
      spread.json      the embedding's feature spread of the final model (written by `adnkit study`)

Nobody else names these files: train, score, explain, widgets, bench, report and the CLI go through `Run`.
Writes are atomic (a crash leaves the old file or the new one); tensors load with weights_only=True, so a
file in a run folder cannot run code. Opening a run checks its config.json field by field, so a hand-edited
value of the wrong type is a one-line error naming the file, the setting and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from adnkit.config.settings import Config, check_json_value
from adnkit.core.errors import AdnkitError, DataError
from adnkit.core.files import load_torch, remove_partial_writes, save_json, save_text, save_torch
from adnkit.evaluation.summary import BEST_NOTE
from adnkit.evaluation.threshold import Threshold

_CONFIG = "config.json"
_HISTORY = "history.csv"
_METRICS = "metrics.json"
_PARTIAL_METRICS = "metrics.partial.json"
_MODEL = "model.pt"
_SCORES = "scores.csv"
_CHECKPOINT = "checkpoint.pt"
_ERROR = "error.txt"
_SPREAD = "spread.json"

# Settings added after the first release, with the value that reproduces what older runs did. A run folder
# whose config.json lacks one of these was made before it existed and keeps its old behaviour.
LEGACY_DEFAULTS: dict[str, object] = {"val_fraction": 0.0, "threshold_method": "youden", "flow_precision": "fp32",
                                      "optimizer_impl": "plain", "cpu_bf16_backbone": "off"}



@dataclass
class HistoryRow:
    """One evaluation (after a meta epoch): one row of history.csv."""

    meta_epoch: int
    epoch: int
    train_loss: float
    auroc: float
    seconds: float
    val_loss: float = math.nan
    """Mean negative log-likelihood (the training loss) of the validation images' test views."""
    val_score_mean: float = math.nan
    """Mean anomaly score of the validation images."""


@dataclass
class Metrics:
    """metrics.json: the contract's keys (typed), then anything else a run recorded in `extra`."""

    auroc_last: float
    auroc_best: float
    best_epoch: int
    train_seconds: float
    eval_seconds: float
    train_images_per_s: float
    test_images_per_s: float
    peak_rss_mb: float
    n_train: int
    n_test: int
    attention: str
    seed: int
    threshold: float = math.nan
    threshold_method: str = ""
    """One sentence: how the threshold was chosen."""
    dataset: str = ""
    category: str = ""
    best_note: str = BEST_NOTE
    cuda_peak_mb: float = 0.0
    device: str = ""
    feature_cache: bool = False
    weights_source: str = ""
    meta_epochs: int = 0
    adnkit_version: str = ""
    fast_path: str = ""
    """What the training step used: the optimiser's implementation, the flow's precision, compile."""
    # --- the validation protocol: numbers chosen without test labels, and how far they could move ----------
    auroc_val_selected: float = math.nan
    """Test AUROC at the evaluation with the lowest validation loss (chosen without test labels)."""
    val_selected_epoch: int = 0
    selected: str = "last"
    """Which model model.pt and scores.csv hold: last or val (the val-selected one)."""
    auroc_last_ci: list = field(default_factory=lambda: [math.nan, math.nan])
    """95% bootstrap interval of auroc_last (stratified, fixed seed)."""
    aupr: float = math.nan
    f1_max: float = math.nan
    fpr_at_95_tpr: float = math.nan
    test_tpr: float = math.nan
    test_fpr: float = math.nan
    test_precision: float = math.nan
    test_f1: float = math.nan
    threshold_kind: str = ""
    """The method that chose the threshold: val_fpr, youden or train_quantile (after any fallback)."""
    threshold_requested: str = ""
    """The method asked for (threshold_method in config.json)."""
    threshold_target_fpr: float = math.nan
    """val_fpr: the validation false-positive rate the threshold was set for."""
    threshold_val_fpr: float = math.nan
    """The share of validation images at or above the threshold."""
    n_val: int = 0
    # --- where the wall clock went (adnkit.training.phases) -------------------------------------------------
    phases: dict = field(default_factory=dict)
    """Wall seconds of this call of train() per phase (setup, data, model, resume, train.*, eval.*, checkpoint,
    final, outputs, metrics); they add up to the call's wall time. A resumed run counts its own attempt."""
    phases_cpu: dict = field(default_factory=dict)
    """The process's CPU seconds (all threads) in each phase: wall minus CPU is time spent waiting for a core
    (or, with several threads, CPU above wall is parallel work)."""
    checkpoints: dict = field(default_factory=dict)
    """This call's checkpoint writes: writes, bytes, write_seconds (in a background thread), every_minutes."""
    startup_seconds: float = math.nan
    """Seconds the process ran before train() was called: in `adnkit train`, the interpreter's start, the
    imports and the argument parsing; in a notebook or a loop of runs, everything the process did before."""
    notes: dict = field(default_factory=dict)
    """What each number means, in words."""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**values, **self.extra}

    @classmethod
    def from_dict(cls, values: dict, source: str = "metrics") -> Metrics:
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        missing = [n for n, f in known.items() if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and n not in values]
        if missing:
            raise DataError(f"{source}: lacks {missing}; the run did not finish: rerun it with --resume")
        typed = {}
        for name, f in known.items():
            if name in values:
                value = math.nan if values[name] is None and f.type == "float" else values[name]  # JSON null
                typed[name] = check_json_value(name, value, f.type, source, "rerun the run")
        return cls(**typed, extra={k: v for k, v in values.items() if k not in known})

    def get(self, key: str, default=None):
        """A value by its metrics.json key (contract or extra)."""
        return self.to_dict().get(key, default)


class Run:
    """One run folder. `Run.create(path, cfg)` claims a new one; `Run.open(path)` reads an existing one."""

    def __init__(self, path: str | Path, config: Config | None = None):
        self.path = Path(path)
        self._config = config

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- life cycle ------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, cfg: Config) -> Run:
        """Claim `path` for a new run of `cfg` (writes config.json); refuses a folder that holds a run."""
        run = cls(path, cfg)
        if run.is_started:
            raise AdnkitError(f"{run.path} already holds a run; continue it with --resume, or choose another --out")
        run.path.mkdir(parents=True, exist_ok=True)
        save_text(cfg.to_json() + "\n", run.path / _CONFIG)
        return run

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """An existing run folder (its config.json is read and checked now)."""
        run = cls(path)
        if not run.is_started:
            raise DataError(f"{run.path}: not a run folder (no {_CONFIG}); pass the --out folder of `adnkit train`")
        run.config  # noqa: B018 - validate now, not at first use
        return run

    @property
    def is_started(self) -> bool:
        return (self.path / _CONFIG).is_file()

    @property
    def is_finished(self) -> bool:
        """Trained to the end: metrics.json is there and readable."""
        return self.read_metrics(missing_ok=True) is not None

    @property
    def is_trained(self) -> bool:
        """Settings and weights are there: the run can rebuild its model."""
        return self.is_started and (self.path / _MODEL).is_file()

    @property
    def needs_resume(self) -> bool:
        """Started (config.json) but not finished: `train(..., resume=True)` continues it."""
        return self.is_started and not self.is_finished

    def require_trained(self) -> Run:
        if not self.is_trained:
            raise DataError(f"{self.path}: not a trained run folder (needs {_CONFIG} and {_MODEL}); "
                            "pass the --out folder of a finished `adnkit train`")
        return self

    # --- config ----------------------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = read_config(self.path / _CONFIG)
        return self._config

    # --- history ---------------------------------------------------------------------------------------------
    def write_history(self, rows: list[HistoryRow | dict]) -> None:
        table = pd.DataFrame([dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows])
        save_text(table.to_csv(index=False), self.path / _HISTORY)

    def read_history(self) -> pd.DataFrame | None:
        return read_csv_or_none(self.path / _HISTORY)

    # --- metrics ---------------------------------------------------------------------------------------------
    def write_metrics(self, metrics: Metrics | dict) -> None:
        values = metrics.to_dict() if isinstance(metrics, Metrics) else dict(metrics)
        save_json(values, self.path / _METRICS)

    def read_metrics(self, missing_ok: bool = False) -> Metrics | None:
        """metrics.json as Metrics; None when it is absent (or unreadable, with missing_ok)."""
        path = self.path / _METRICS
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError):
            if missing_ok or not path.exists():
                return None
            raise DataError(f"{path}: unreadable; rerun the run (adnkit train --resume --out {self.path})") from None
        if not isinstance(values, dict):
            return None
        try:
            return Metrics.from_dict(values, str(path))
        except AdnkitError:
            if missing_ok:
                return None
            raise

    def set_aside_metrics(self) -> None:
        """A failed attempt that wrote metrics.json: keep it as metrics.partial.json, not as a finished run."""
        if (self.path / _METRICS).exists():
            os.replace(self.path / _METRICS, self.path / _PARTIAL_METRICS)

    def write_error(self, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        save_text(text, self.path / _ERROR)

    def write_spread(self, spread: dict) -> None:
        """adnkit.model.probes.feature_spread of the final model (adnkit.experiments.study caches it here)."""
        save_json(spread, self.path / _SPREAD)

    def read_spread(self) -> dict | None:
        try:
            values = json.loads((self.path / _SPREAD).read_text())
        except (OSError, ValueError):
            return None
        return values if isinstance(values, dict) else None

    # --- scores ----------------------------------------------------------------------------------------------
    def write_scores(self, table: pd.DataFrame) -> None:
        save_text(table.to_csv(index=False), self.path / _SCORES)

    def read_scores(self) -> pd.DataFrame | None:
        """scores.csv (path, label, defect, score), or None when absent or unreadable."""
        table = read_csv_or_none(self.path / _SCORES)
        return table if table is not None and {"path", "score"} <= set(table.columns) else None

    # --- weights and checkpoints -------------------------------------------------------------------------------
    def save_model(self, state: dict, **info) -> None:
        """The trained weights (plus plain info such as the adnkit version)."""
        save_torch(dict(model=state, **info), self.path / _MODEL)

    def load_model(self) -> dict:
        """model.pt as saved (weights_only); its "model" entry is the state dict."""
        return load_torch(self.path / _MODEL)

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / _CHECKPOINT).is_file()

    def save_checkpoint(self, state: dict) -> None:
        save_torch(state, self.path / _CHECKPOINT)

    def load_checkpoint(self) -> dict | None:
        return load_torch(self.path / _CHECKPOINT) if self.has_checkpoint else None

    @property
    def checkpoint_bytes(self) -> int:
        return (self.path / _CHECKPOINT).stat().st_size if self.has_checkpoint else 0

    def remove_partial_checkpoints(self) -> int:
        """Delete the temporary files of a checkpoint write that a killed process left behind; how many."""
        return remove_partial_writes(self.path / _CHECKPOINT)

    @property
    def model_file(self) -> Path:
        """Where the weights are (for messages and for tools that hash or copy them)."""
        return self.path / _MODEL

    # --- threshold (stored in metrics.json; older runs also had it in model.pt) ---------------------------------
    def threshold(self) -> Threshold:
        """The run's decision threshold and how it was chosen."""
        metrics = self.read_metrics(missing_ok=True)
        if metrics is not None and math.isfinite(metrics.threshold):
            return Threshold.from_record(metrics.to_dict())
        stored = self.load_model()
        if "threshold" in stored:
            return Threshold.from_record(stored)
        raise DataError(f"{self.path}: no decision threshold in {_METRICS}; rerun the run")


def read_config(path: str | Path) -> Config:
    """A run's config.json as a Config, checked field by field (Config.from_json); settings the file lacks
    take their LEGACY_DEFAULTS value, so that an older run keeps meaning what it meant."""
    return Config.from_json(path, missing=LEGACY_DEFAULTS)


def read_csv_or_none(path: Path) -> pd.DataFrame | None:
    """The CSV at `path`, or None when it is missing, empty or not a table (a run that has not written it yet)."""
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
