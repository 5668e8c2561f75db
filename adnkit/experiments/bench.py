"""The benchmark: a matrix of datasets x categories x attention variants x seeds, one training run per cell, in
a benchmark folder (adnkit.experiments.folder.BenchFolder lists its files).

Rerunning the same command skips every cell whose run has finished, so an interrupted benchmark continues where
it stopped; failed cells are tried again (an interrupted run continues from its checkpoint).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from adnkit.config import Config
from adnkit.core.errors import AdnkitError
from adnkit.core.formatting import safe_name
from adnkit.core.version import __version__
from adnkit.data import expand_specs, spec_names
from adnkit.experiments.cells import Runner, is_finished, jsonable, results_frame
from adnkit.experiments.executors import SerialExecutor
from adnkit.experiments.folder import BenchFolder
from adnkit.experiments.grid import check_fields, grid_columns, name_suffix, value_text, variants
from adnkit.experiments.tables import bench_tables
from adnkit.training.trainer import train


def _run_names(specs: list[str]) -> dict[str, str]:
    """spec -> '<dataset>-<category>', with a short hash added where two specs would share a name."""
    names = {s: safe_name("-".join(spec_names(s))) for s in specs}
    counts = pd.Series(list(names.values())).value_counts()
    return {s: (n if counts[n] == 1 else f"{n}-{hashlib.sha1(s.encode()).hexdigest()[:6]}")
            for s, n in names.items()}


def _default_runner(progress: bool) -> Runner:
    def runner(cfg: Config, run_dir: Path) -> dict:
        # A folder left by an earlier attempt (failed or interrupted) continues from its last checkpoint.
        return train(cfg, run_dir, resume="auto", progress=progress)

    return runner


def _nothing_to_run(cfg: Config, run_dir: Path) -> dict:
    raise AdnkitError(f"{run_dir}: the finished run's metrics vanished while the benchmark ran; run the command again")


def _cells(folder: BenchFolder, expanded: list[str], variant_list: list[dict], seeds: list[int], base_cfg: Config,
           seeds_for, grid_cols: list[str]) -> list[dict]:
    """Every cell of the matrix, its config built (and validated) before anything runs: a typo fails at once."""
    names = _run_names(expanded)
    cells = []
    for spec in expanded:
        dataset, category = spec_names(spec)
        for variant in variant_list:
            attention = str(variant["attention"])
            values = {k: v for k, v in variant.items() if k != "attention"}
            for seed in (seeds if seeds_for is None else list(dict.fromkeys(int(s) for s in seeds_for(variant)))):
                cfg = base_cfg.replace(data=spec, attention=attention, seed=seed, **values)
                suffix = name_suffix(variant)  # '' without a grid
                run_dir = folder.run_dir(f"{names[spec]}-{safe_name(attention)}{safe_name(suffix) if suffix else ''}"
                                         f"-seed{seed}")
                row = dict(dataset=dataset, category=category, spec=spec, attention=attention, seed=seed,
                           status="pending", reason="", run_dir=run_dir.relative_to(folder.path).as_posix(),
                           reused=False)
                row.update({c: value_text(getattr(cfg, c)) for c in grid_cols})  # the value each cell ran with
                cells.append(dict(cfg=cfg, run_dir=run_dir, row=row, grid_cols=grid_cols))
    return cells


def benchmark(specs: Iterable[str], attentions: Iterable[str], seeds: Iterable[int], base_cfg: Config,
              out_dir: str | Path, runner: Runner | None = None, progress: bool = True,
              executor=None, grid=None, seeds_for: Callable[[dict], Iterable[int]] | None = None) -> pd.DataFrame:
    """Run every cell of specs x attentions x seeds (specs expanded by adnkit.data.expand_specs) into the benchmark
    folder `out_dir` and return the results table (also its results.csv, summary.csv and paired.csv).

    Each cell calls ``runner(base_cfg.replace(data=spec, attention=a, seed=s), run_dir)``, by default
    adnkit.training.trainer.train. A finished run is not run again. A run that raises is recorded as failed with
    a one-line reason (and the traceback in the run's error file), and the benchmark goes on; Ctrl-C stops it,
    leaving the finished runs on disk. `executor` (adnkit.experiments.executors) says how the cells run: one
    after another here (SerialExecutor, the default) or as Ray tasks (RayExecutor); the results are the same.

    `grid` (adnkit.experiments.grid): more Config fields as axes, {field: [values]} crossed with the attentions,
    or a list of variant dicts; each cell's config then also gets its grid values, its run folder name carries
    them (`...-se-train_attention_true-seed0`), its results row has a column per grid field, and the summary
    groups by them. `seeds_for(variant)`: the seeds of one variant where they differ from `seeds` (the attention
    study runs its costly trained variants on fewer seeds than the frozen ones).
    """
    folder = BenchFolder(out_dir)
    variant_list = variants(attentions, grid)
    check_fields(variant_list)
    grid_cols = grid_columns(variant_list)
    attentions = list(dict.fromkeys(str(v["attention"]) for v in variant_list))
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    specs = [str(s) for s in specs]
    expanded = expand_specs(specs, base_cfg.data_root)
    if not expanded or not attentions or not seeds:
        raise AdnkitError("the benchmark matrix is empty; give at least one --data, --attention and --seed")
    cells = _cells(folder, expanded, variant_list, seeds, base_cfg, seeds_for, grid_cols)
    base = jsonable(base_cfg.to_dict())
    folder.check_rerun(base)
    executor = executor or SerialExecutor()
    if runner is None:  # runs in other processes (Ray) keep their own progress bars off
        todo = not all(is_finished(c) for c in cells)
        runner = _default_runner(progress and executor.inner_progress) if todo else _nothing_to_run

    folder.runs_dir.mkdir(parents=True, exist_ok=True)
    folder.write_matrix(dict(
        specs=specs, expanded_specs=expanded, attentions=attentions, seeds=seeds, base_config=base,
        n_cells=len(cells), adnkit_version=__version__,
        **(dict(grid=jsonable(variant_list), grid_columns=grid_cols) if grid_cols else {}),
        updated=time.strftime("%Y-%m-%dT%H:%M:%S")))
    rows = [cell["row"] for cell in cells]

    def save() -> None:
        results = results_frame(rows)
        folder.write_tables(results, *bench_tables(results, grid_cols))

    save()
    executor.run(cells, rows, runner, save, progress)
    return results_frame(rows)
