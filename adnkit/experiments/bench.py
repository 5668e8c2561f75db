"""The benchmark: a matrix of datasets x categories x attention variants x seeds, one training run per cell.

    out_dir/
      bench.json     the matrix requested and the base config (a rerun with other settings is refused)
      results.csv    one row per cell: dataset, category, spec, attention, seed, status, reason, run_dir,
                     reused, then every key of the run's metrics.json (rewritten after every run)
      summary.csv    adnkit.evaluation.summary.summarize(results): mean +- std over seeds, gain over DifferNet
      runs/<dataset>-<category>-<attention>-seed<k>/   one run folder each (adnkit.runs.folder.Run)

Rerunning the same command skips every cell whose run has finished (Run.is_finished), so an interrupted
benchmark continues where it stopped; failed cells are tried again.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from adnkit.config.settings import Config
from adnkit.core.errors import AdnkitError
from adnkit.core.files import save_text
from adnkit.core.formatting import pm, safe_name
from adnkit.core.version import __version__
from adnkit.data import expand_specs, spec_names
from adnkit.evaluation.summary import (
    BEST_NOTE,
    MEAN_CATEGORY,
    SUMMARY_COLUMNS,
    per_grid_values,
    summarize,
    summary_display,
)
from adnkit.evaluation.verdict import ALL_DATASETS, PAIRED_COLUMNS, paired_gains, verdict_lines
from adnkit.runs.folder import Run
from adnkit.training.trainer import train

Runner = Callable[[Config, Path], dict]

RESULT_COLUMNS = ["dataset", "category", "spec", "attention", "seed", "status", "reason", "run_dir", "reused"]
# Settings that do not change what a run computes: a rerun may differ in these and still reuse old runs.
_RERUN_FREE = {"data", "attention", "seed", "device", "num_workers", "data_root"}


def _run_names(specs: list[str]) -> dict[str, str]:
    """spec -> '<dataset>-<category>', with a short hash added where two specs would share a name."""
    names = {s: safe_name("-".join(spec_names(s))) for s in specs}
    counts = pd.Series(list(names.values())).value_counts()
    return {s: (n if counts[n] == 1 else f"{n}-{hashlib.sha1(s.encode()).hexdigest()[:6]}")
            for s, n in names.items()}


# --- running -------------------------------------------------------------------------------------------------
def _default_runner(progress: bool) -> Runner:
    def runner(cfg: Config, run_dir: Path) -> dict:
        # A folder left by an earlier attempt (failed or interrupted) continues from its last checkpoint.
        return train(cfg, run_dir, resume="auto", progress=progress)

    return runner


def _nothing_to_run(cfg: Config, run_dir: Path) -> dict:
    raise AdnkitError(f"{run_dir}: the finished run's metrics vanished while the benchmark ran; run the command again")


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def settings_that_differ(out_dir: Path, base_cfg: Config) -> list[str]:
    """The settings in which the benchmark already in `out_dir` (its bench.json) differs from `base_cfg`; [] when
    there is none, or it is unreadable (it is rewritten), or it matches."""
    return _differing(out_dir / "bench.json", _jsonable(base_cfg.to_dict()))


def _differing(path: Path, base: dict) -> list[str]:
    if not path.exists():
        return []
    try:
        old = json.loads(path.read_text()).get("base_config", {})
    except (OSError, json.JSONDecodeError):
        return []
    keys = (set(old) | set(base)) - _RERUN_FREE
    return sorted(k for k in keys if old.get(k) != base.get(k))


def _check_rerun(out_dir: Path, base: dict) -> None:
    path = out_dir / "bench.json"
    differ = _differing(path, base)
    if differ:
        raise AdnkitError(f"{path} holds runs made with other settings ({', '.join(differ)}); "
                          f"use a new --out folder, or delete {out_dir} to start over")


def _read_metrics(run_dir: Path) -> dict | None:
    """The finished run's metrics.json as a dict, or None when the run has not finished."""
    metrics = Run(run_dir).read_metrics(missing_ok=True)
    return None if metrics is None else metrics.to_dict()


def _flat(value):
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return value


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """The results table: the fixed columns first, then metric keys in the order first seen."""
    extra = list(dict.fromkeys(k for row in rows for k in row if k not in RESULT_COLUMNS))
    first = ["auroc_last", "auroc_best"]  # present even before any run
    extra = first + [k for k in extra if k not in first]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS + extra)


def _save_tables(out_dir: Path, rows: list[dict], grid_cols: list[str] = ()) -> pd.DataFrame:
    results = results_frame(rows)
    save_text(results.to_csv(index=False), out_dir / "results.csv")
    finished = results["status"].eq("ok").any()
    summary = summarize(results, variant_cols=grid_cols) if finished else pd.DataFrame(columns=SUMMARY_COLUMNS)
    paired = paired_table(results, grid_cols) if finished else pd.DataFrame(columns=PAIRED_COLUMNS)
    save_text(with_verdicts(summary, paired, grid_cols).to_csv(index=False), out_dir / "summary.csv")
    save_text(paired.to_csv(index=False), out_dir / "paired.csv")
    return results


def with_verdicts(summary: pd.DataFrame, paired: pd.DataFrame, grid_cols=()) -> pd.DataFrame:
    """The summary with the paired comparison's sentence (is the gain over DifferNet distinguishable from
    zero?) on each variant's dataset-mean row, one column per metric: verdict_last, verdict_best, ..."""
    if summary.empty or paired.empty:
        return summary
    summary = summary.copy()
    keys = ["attention", *[c for c in grid_cols if c != "attention"]]
    for row in paired[paired["dataset"] != ALL_DATASETS].itertuples(index=False):
        row = row._asdict()
        hit = (summary["dataset"] == row["dataset"]) & (summary["category"] == MEAN_CATEGORY)
        for key in keys:
            hit &= summary[key].astype(str) == str(row[key])
        summary.loc[hit, f"verdict_{row['metric_label'].replace('-', '_')}"] = row["sentence"]
    return summary


def run_bench(specs: Iterable[str], attentions: Iterable[str], seeds: Iterable[int], base_cfg: Config,
              out_dir: str | Path, runner: Runner | None = None, progress: bool = True,
              executor=None, grid=None, seeds_for: Callable[[dict], Iterable[int]] | None = None) -> pd.DataFrame:
    """Run every cell of specs x attentions x seeds (specs expanded by `expand_specs`) and return the results
    table (also in out_dir/results.csv; the summary is in out_dir/summary.csv).

    Each cell calls ``runner(base_cfg.replace(data=spec, attention=a, seed=s), run_dir)``, by default
    adnkit.training.train.run_training. A finished run is not run again. A run that
    raises is recorded as failed with a one-line reason (and the traceback in the run's error file), and the
    benchmark goes on; Ctrl-C stops it, leaving the finished runs on disk. `executor` (adnkit.experiments.executors)
    says
    how the cells run: one after another here (SerialExecutor, the default) or as Ray tasks (RayExecutor);
    the results are the same.

    `grid` (adnkit.experiments.grid): more Config fields as axes, {field: [values]} crossed with the attentions, or a
    list
    of variant dicts; each cell's config then also gets its grid values, its run folder name carries them
    (`...-se-train_attention_true-seed0`), its results row has a column per grid field, and the summary
    groups by them. Without a grid the run names and tables are as before.

    `seeds_for(variant)`: the seeds of one variant where they differ from `seeds` (the attention study runs
    its costly trained variants on fewer seeds than the frozen ones).
    """
    from adnkit.experiments.grid import check_fields, grid_columns, name_suffix, value_text, variants
    out_dir = Path(out_dir)
    variant_list = variants(attentions, grid)
    check_fields(variant_list)
    grid_cols = grid_columns(variant_list)
    attentions = list(dict.fromkeys(str(v["attention"]) for v in variant_list))
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    specs = [str(s) for s in specs]
    expanded = expand_specs(specs, base_cfg.data_root)
    if not expanded or not attentions or not seeds:
        raise AdnkitError("the benchmark matrix is empty; give at least one --data, --attention and --seed")
    names = _run_names(expanded)
    # Every cell's config is built (and validated) before anything runs: a typo fails at once.
    cells = []
    for spec in expanded:
        dataset, category = spec_names(spec)
        for variant in variant_list:
            attention = str(variant["attention"])
            values = {k: v for k, v in variant.items() if k != "attention"}
            for seed in (seeds if seeds_for is None else list(dict.fromkeys(int(s) for s in seeds_for(variant)))):
                cfg = base_cfg.replace(data=spec, attention=attention, seed=seed, **values)
                suffix = name_suffix(variant)  # '' without a grid: the names as before
                run_dir = (
                    out_dir
                    / "runs"
                    / f"{names[spec]}-{safe_name(attention)}{safe_name(suffix) if suffix else ''}-seed{seed}"
                )
                row = dict(dataset=dataset, category=category, spec=spec, attention=attention, seed=seed,
                           status="pending", reason="", run_dir=run_dir.relative_to(out_dir).as_posix(), reused=False)
                row.update({c: value_text(getattr(cfg, c)) for c in grid_cols})  # the value each cell ran with
                cells.append(dict(cfg=cfg, run_dir=run_dir, row=row, grid_cols=grid_cols))
    base = _jsonable(base_cfg.to_dict())
    _check_rerun(out_dir, base)
    if executor is None:
        from adnkit.experiments.executors import SerialExecutor

        executor = SerialExecutor()
    if runner is None:
        todo = any(_read_metrics(c["run_dir"]) is None for c in cells)
        # Imported (slow: torch, FrEIA) only when some cell still has to run; runs in other processes (Ray)
        # keep their own progress bars off.
        runner = _default_runner(progress and executor.inner_progress) if todo else _nothing_to_run

    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    save_text(json.dumps(dict(
        specs=specs, expanded_specs=expanded, attentions=attentions, seeds=seeds, base_config=base,
        n_cells=len(cells), adnkit_version=__version__,
        **(dict(grid=_jsonable(variant_list), grid_columns=grid_cols) if grid_cols else {}),
        updated=time.strftime("%Y-%m-%dT%H:%M:%S")), indent=2) + "\n", out_dir / "bench.json")
    rows = [cell["row"] for cell in cells]
    _save_tables(out_dir, rows, grid_cols)

    executor.run(cells, rows, runner, lambda: _save_tables(out_dir, rows, grid_cols), progress)
    return results_frame(rows)


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


def run_cell(cell: dict, runner: Runner) -> dict:
    """One cell of the matrix, the same wherever it runs (adnkit.experiments.executors): reuse a finished run folder,
    else
    call the runner; a runner that raises gives a failed row (one-line reason, traceback in the run's error file).
    Returns the cell's results row."""
    row = reused_row(cell)
    if row is not None:
        return row
    run_dir = cell["run_dir"]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        returned = runner(cell["cfg"], run_dir)
    except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the matrix
        return record_failure(cell, _one_line(exc), traceback.format_exc())
    metrics = _read_metrics(run_dir)
    if metrics is None and isinstance(returned, dict) and returned:
        metrics = dict(returned)  # returned but not written: keep them, so a rerun skips this cell
        Run(run_dir).write_metrics(_jsonable(metrics))
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


def paired_table(results: pd.DataFrame, grid_cols=()) -> pd.DataFrame:
    """adnkit.evaluation.verdict.paired_gains for every combination of the grid values, each against its own DifferNet
    (attention none with the same grid values), as summarize does; the grid columns follow "variant"."""
    grid_cols = [c for c in grid_cols if c != "attention"]
    if not grid_cols or results is None or results.empty:
        return paired_gains(results)
    parts = []
    for values, part in per_grid_values(results, grid_cols, paired_gains, at=2):
        label = " ".join(f"{c}={v}" for c, v in values.items())
        part["variant"] = part["variant"] + " " + label
        part["sentence"] = f"[{label}] " + part["sentence"]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


# --- terminal output -----------------------------------------------------------------------------------------
def format_summary(summary: pd.DataFrame, results: pd.DataFrame | None = None) -> str:
    """The summary (adnkit.evaluation.summary.summarize) as a compact text table: AUROC last and best in percent,
    mean +- std
    over seeds, and the gain of the last AUROC over DifferNet. A dataset's "mean" rows are left out when it has one
    category (they would repeat it); with `results`, a one-seed cell shows its run's 95% test-set interval."""
    if summary is None or summary.empty:
        return "No finished runs to summarise."
    one_category = summary.groupby("dataset")["category"].transform(lambda c: c[c != MEAN_CATEGORY].nunique() == 1)
    summary = summary[~(one_category & (summary["category"] == MEAN_CATEGORY))].reset_index(drop=True)
    table = summary_display(summary, pm, gains=("last",), gain_label="gain {} (points)",
                            columns=("auroc_last", "auroc_best"))
    intervals = _run_intervals(results)
    if intervals:
        keys = zip(summary["dataset"], summary["category"], summary["attention"], summary["n_seeds"], strict=True)
        table["AUROC last (%)"] = [text + intervals.get((d, c, a), "") if n == 1 else text
                                   for text, (d, c, a, n) in zip(table["AUROC last (%)"], keys, strict=True)]
    lines = [
        "Image AUROC (%), mean +- std over seeds; [95% test-set interval] for a single run",
        table.to_string(index=False),
        "last = the final model; " + BEST_NOTE.split(";")[0] + " (optimistic); gain = minus DifferNet, same seeds.",
    ]
    return "\n".join(lines)


def _run_intervals(results: pd.DataFrame | None) -> dict:
    """(dataset, category, attention) -> " [low, high]" of a run's auroc_last_ci, for one-run cells."""
    if results is None or "auroc_last_ci" not in results:
        return {}
    ok = results[results["status"] == "ok"] if "status" in results else results
    out = {}
    for row in ok.itertuples():
        low, high = json.loads(row.auroc_last_ci) if isinstance(row.auroc_last_ci, str) else (math.nan, math.nan)
        if math.isfinite(low):
            out[(row.dataset, row.category, row.attention)] = f" [{100 * low:.1f}, {100 * high:.1f}]"
    return out


def format_paired(paired: pd.DataFrame) -> str:
    """Is each variant's gain over DifferNet real? adnkit.evaluation.verdict.verdict_lines for the last AUROC (best and
    val-selected are in paired.csv and the report)."""
    return "\n".join(["Is the difference real? (AUROC last; paired by category and seed)",
                      *(f"- {line}" for line in verdict_lines(paired))])
