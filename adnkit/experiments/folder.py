"""The benchmark folder as one object: `BenchFolder` knows every file a benchmark (or the attention study) holds
and reads and writes them, as adnkit.runs.folder.Run does for one run.

    out_dir/
      bench.json       the matrix requested and the base config (a rerun with other settings is refused)
      results.csv      one row per cell: dataset, category, spec, attention, seed, status, reason, run_dir, reused,
                       the grid values, then every key of the run's metrics.json (rewritten after every run)
      summary.csv      adnkit.evaluation.summary.summarize(results) with each variant's verdict
      paired.csv       adnkit.evaluation.verdict.paired_gains(results): is each gain over DifferNet real?
      report.html      the offline HTML report (adnkit.experiments.report)
      study.csv, study_runs.csv, study.txt   `adnkit study attention`'s table, runs and answer in sentences
      runs/<name>/     one run folder per cell

Nobody else spells these names. Tables are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from adnkit.config import Config
from adnkit.core.errors import AdnkitError
from adnkit.core.files import save_text
from adnkit.runs.folder import read_csv_or_none

_MATRIX = "bench.json"
_RESULTS = "results.csv"
_SUMMARY = "summary.csv"
_PAIRED = "paired.csv"
_REPORT = "report.html"
_STUDY = "study.csv"
_STUDY_RUNS = "study_runs.csv"
_STUDY_TEXT = "study.txt"
_RUNS = "runs"

RERUN_FREE = {"data", "attention", "seed", "device", "num_workers", "data_root"}
"""Settings that do not change what a run computes: a rerun may differ in these and still reuse old runs."""


class BenchFolder:
    """One benchmark folder (see the module docstring for its files)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"BenchFolder({str(self.path)!r})"

    # --- the matrix (bench.json) -------------------------------------------------------------------------------
    def read_matrix(self) -> dict:
        """bench.json as a dict ({} when absent or unreadable)."""
        try:
            values = json.loads((self.path / _MATRIX).read_text())
        except (OSError, ValueError):
            return {}
        return values if isinstance(values, dict) else {}

    def write_matrix(self, matrix: dict) -> None:
        save_text(json.dumps(matrix, indent=2) + "\n", self.path / _MATRIX)

    def settings_that_differ(self, base_config: dict) -> list[str]:
        """The settings (other than RERUN_FREE ones) in which the benchmark already here differs from
        `base_config` (a JSON-ready Config dict); [] when there is none, or it matches. A setting that the older
        bench.json lacks counts as its default value."""
        old = self.read_matrix().get("base_config", {})
        if not old:
            return []
        defaults = json.loads(Config().to_json())
        keys = (set(old) | set(base_config)) - RERUN_FREE
        return sorted(k for k in keys if old.get(k, defaults.get(k)) != base_config.get(k, defaults.get(k)))

    def check_rerun(self, base_config: dict) -> None:
        """Refuse to add runs made with other settings to this folder (one line naming them and the fix)."""
        differ = self.settings_that_differ(base_config)
        if differ:
            raise AdnkitError(f"{self.path / _MATRIX} holds runs made with other settings ({', '.join(differ)}); "
                              f"use a new --out folder, or delete {self.path} to start over")

    def grid_columns(self) -> list[str]:
        """The grid fields the benchmark was run with ([] for a bench without --grid)."""
        columns = self.read_matrix().get("grid_columns", [])
        return [str(c) for c in columns] if isinstance(columns, list) else []

    # --- tables ------------------------------------------------------------------------------------------------
    def write_tables(self, results: pd.DataFrame, summary: pd.DataFrame, paired: pd.DataFrame) -> None:
        save_text(results.to_csv(index=False), self.path / _RESULTS)
        save_text(summary.to_csv(index=False), self.path / _SUMMARY)
        save_text(paired.to_csv(index=False), self.path / _PAIRED)

    def read_results(self) -> pd.DataFrame:
        """results.csv; a one-line error naming the folder when there is none."""
        results = read_csv_or_none(self.path / _RESULTS)
        if results is None:
            raise AdnkitError(f"{self.path / _RESULTS}: not found or unreadable; run `adnkit bench --out {self.path}` "
                              "first")
        return results

    def read_summary(self) -> pd.DataFrame | None:
        return read_csv_or_none(self.path / _SUMMARY)

    def read_paired(self) -> pd.DataFrame | None:
        return read_csv_or_none(self.path / _PAIRED)

    # --- runs --------------------------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.path / _RUNS

    def run_dir(self, name: str) -> Path:
        return self.runs_dir / name

    def run_path(self, relative: str | Path) -> Path:
        """A results row's run_dir (relative to the folder, or absolute) as a path."""
        path = Path(str(relative))
        return path if path.is_absolute() else self.path / path

    # --- the report and the study ---------------------------------------------------------------------------------
    @property
    def report_file(self) -> Path:
        return self.path / _REPORT

    @property
    def results_file(self) -> Path:
        return self.path / _RESULTS

    def write_report(self, page: str) -> Path:
        save_text(page, self.report_file)
        return self.report_file

    def write_study(self, table: pd.DataFrame, runs: pd.DataFrame, text: str) -> None:
        save_text(table.to_csv(index=False), self.path / _STUDY)
        save_text(runs.to_csv(index=False), self.path / _STUDY_RUNS)
        save_text(text, self.path / _STUDY_TEXT)

    @property
    def study_files(self) -> tuple[Path, Path]:
        """(study.csv, study.txt)."""
        return self.path / _STUDY, self.path / _STUDY_TEXT
