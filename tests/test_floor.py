"""benchmarks/floor.py on a tiny run: every phase group beside a positive floor, the wall clock accounted for by
the run's own phases, and the totals that docs/benchmarks.md quotes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # trains a ci-preset run in a subprocess and measures the machine's peaks
def test_floor_puts_each_phase_of_a_real_run_beside_its_floor(tmp_path):
    out = tmp_path / "floor.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "floor.py"), "--preset", "ci",
                           "--data", "synthetic:train-test", "--data-root", str(tmp_path / "data"),
                           "--threads", "1", "--set", "meta_epochs=2", "--run-dir", str(tmp_path / "run"),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(out.read_text())
    rows = {r["row"]: r for r in doc["rows"]}
    for name in ("backbone: training views", "flow forward (training)", "flow backward (training)",
                 "backbone: test + validation views", "checkpoints", "start-up and exit"):
        assert rows[name]["floor_s"] > 0 and rows[name]["wall_s"] > 0, name
        rounding = 0.0006 / rows[name]["floor_s"]  # the JSON rounds seconds to 3 decimals
        assert rows[name]["ratio"] == pytest.approx(rows[name]["wall_s"] / rows[name]["floor_s"], rel=0.01 + rounding)
    summary = doc["summary"]
    assert summary["floor_s"] == pytest.approx(sum(r["floor_s"] for r in doc["rows"]), abs=0.05)
    # the outside wall clock is start-up + the run's phases + exit; the phases never exceed it
    assert summary["wall_s"] == pytest.approx(summary["startup_s"] + summary["phases_s"] + summary["exit_s"], abs=0.05)
    assert summary["startup_s"] > 0 and summary["phases_s"] > 0 and summary["exit_s"] > -0.1
    assert math.isfinite(summary["wall_over_floor"]) and summary["wall_over_floor"] > 1
    assert 0 <= summary["checkpoint_share_of_wall"] < 1
    assert doc["run"]["n_train"] > 0 and doc["machine"]["threads"] == 1
