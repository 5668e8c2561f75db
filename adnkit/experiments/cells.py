"""One cell of a benchmark's matrix, the same wherever it runs (adnkit.experiments.executors): reuse a finished
run folder, else call the runner into it; a failure becomes a row with a one-line reason and error.txt. A cell is
a dict: cfg (its Config), run_dir, row (its results row so far) and grid_cols."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from adnkit.config import Config
from adnkit.runs.folder import Run

Runner = Callable[[Config, Path], dict]
"""Trains one cell: runner(cfg, run_dir) -> the run's metrics (adnkit.training.trainer.train by default)."""

RESULT_COLUMNS = ["dataset", "category", "spec", "attention", "seed", "status", "reason", "run_dir", "reused"]


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and message, white space folded."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def jsonable(obj):
    """`obj` as JSON would give it back (tuples as lists, other objects as strings)."""
    return json.loads(json.dumps(obj, default=str))


def _read_metrics(run_dir: Path) -> dict | None:
    """The finished run's metrics.json as a dict, or None when the run has not finished."""
    metrics = Run(run_dir).read_metrics(missing_ok=True)
    return None if metrics is None else metrics.to_dict()


def is_finished(cell: dict) -> bool:
    return _read_metrics(cell["run_dir"]) is not None


def _flat(value):
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return value


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """The results table: the fixed columns first, then metric keys in the order first seen."""
    extra = list(dict.fromkeys(k for row in rows for k in row if k not in RESULT_COLUMNS))
    first = ["auroc_last", "auroc_best"]  # present even before any run
    extra = first + [k for k in extra if k not in first]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS + extra)


def reused_row(cell: dict) -> dict | None:
    """The results row of a cell whose run has finished, or None if it must run."""
    metrics = _read_metrics(cell["run_dir"])
    return None if metrics is None else _with_metrics(dict(cell["row"], status="ok", reused=True), metrics,
                                                      cell.get("grid_cols", ()))


def record_failure(cell: dict, reason: str, details: str) -> dict:
    """The row of a failed cell: status failed, the one-line reason; the details go to the run's error file and
    metrics written before the failure are set aside (Run.set_aside_metrics: not a finished run)."""
    run = Run(cell["run_dir"])
    run.write_error(details)
    run.set_aside_metrics()
    return dict(cell["row"], status="failed", reason=reason)


def cell_row(cell: dict, runner: Runner) -> dict:
    """The cell's results row: its finished run reused, else the runner called into its run folder; a runner that
    raises gives a failed row (one-line reason, traceback in the run's error file)."""
    row = reused_row(cell)
    if row is not None:
        return row
    run_dir = cell["run_dir"]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        returned = runner(cell["cfg"], run_dir)
    except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the matrix
        return record_failure(cell, one_line(exc), traceback.format_exc())
    metrics = _read_metrics(run_dir)
    if metrics is None and isinstance(returned, dict) and returned:
        metrics = dict(returned)  # returned but not written: keep them, so a rerun skips this cell
        Run(run_dir).write_metrics(jsonable(metrics))
    if metrics is None:
        return dict(cell["row"], status="failed", reason=f"the run in {run_dir} finished without writing its metrics")
    return _with_metrics(dict(cell["row"], status="ok"), metrics, cell.get("grid_cols", ()))


def _with_metrics(row: dict, metrics: dict, grid_cols=()) -> dict:
    """The row with the run's metrics added (the grid values the cell ran with are kept as they are)."""
    for key, value in metrics.items():
        if key in ("dataset", "category"):
            if isinstance(value, str) and value:
                row[key] = value  # the run's own name for its data wins over the spec's
        elif key not in ("attention", "seed", "status", "reason", "run_dir", "spec", "reused", *grid_cols):
            row[key] = _flat(value)
    return row


