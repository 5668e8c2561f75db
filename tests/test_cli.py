"""The `adnkit` command: help, train/score end to end, what score prints, and one-line errors with exit status 2.
The settings on the command line (--config, --print-config, switches, grouped help): test_cli_settings.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

import adnkit.cli.main as cli
from adnkit.cli.main import build_parser, main
from adnkit.config.settings import field_types
from adnkit.evaluation.threshold import decisions, val_fpr_threshold


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adnkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    description, commands = out.split("\n\n")[1], out.split("  COMMAND\n")[1]
    for command in ("train", "score", "export", "explain", "bench", "demo", "study", "data"):
        assert re.search(rf"^    {command} ", commands, re.M) and command in description


def test_every_config_field_is_a_train_flag():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {s for a in train._actions for s in a.option_strings}
    for name, kind in field_types().items():
        assert f"--{name.replace('_', '-')}" in flags
        assert (f"--no-{name.replace('_', '-')}" in flags) == (kind is bool)  # switches: --x / --no-x


def test_help_shows_the_type_and_the_values_of_the_preset_that_applies(capsys):
    """train's default preset is cpu: its value comes first, then the other presets' (not Config()'s 448)."""
    for command in ("train", "bench", "demo", "study"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split("options:")[1].split())  # argparse wraps the help text
        assert "--image-size INT Side in pixels that images are resized to (the first scale) [cpu: 256, paper: " \
               "448, gpu: 448, demo: 128, ci: 128]" in out
        assert "cuda, cuda:N, mps [auto]" in out  # --device, the same in every preset
        assert "--lr FLOAT Adam's learning rate [0.0002]" in out  # the same in every preset: one value
        assert "--[no-]train-attention" in out or command == "study"  # study fixes train_attention itself
        assert "default 448" not in out and "VALUE" not in out


def fake_detector(tmp_path, n_val=47):
    """What `adnkit score` needs of a detector: score_files and threshold_source."""
    threshold = val_fpr_threshold([0.1 * i for i in range(n_val)])

    class Fake:
        def score_files(self, images, progress=False):
            return pd.DataFrame({"path": [str(tmp_path / "a.png"), str(tmp_path / "longer-name.png")],
                                 "score": [0.5, 12.25], "decision": decisions([0.5, 12.25], threshold.value)})

        def threshold_source(self):
            return threshold.source_line()

    return Fake(), threshold


def test_score_prints_one_line_per_image_and_one_on_the_threshold(tmp_path, monkeypatch, capsys):
    detector, threshold = fake_detector(tmp_path)
    monkeypatch.setattr(cli, "open_detector", lambda run_dir, device: detector)
    assert main(["score", "run", str(tmp_path), "--quiet", "--csv", str(tmp_path / "s.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0] == f"{tmp_path / 'a.png'}            score  0.5000  good"
    assert lines[1] == f"{tmp_path / 'longer-name.png'}  score 12.2500  anomalous"
    assert lines[2] == threshold.source_line() == "threshold 4.6 (val_fpr: at most 1% of 47 validation images " \
                                                  "flagged; measured 0%)"
    assert (tmp_path / "s.csv").read_text().startswith("path,score,decision")


@pytest.mark.slow  # a subprocess: a fresh interpreter imports torch
def test_train_then_score_end_to_end(tmp_path):
    out = tmp_path / "run"
    done = run_cli("train", "--data", "synthetic:cli", "--data-root", str(tmp_path / "data"), "--attention", "se",
                   "--preset", "ci", "--meta-epochs", "1", "--attention-positions", "1,11", "--out", str(out),
                   "--quiet")
    assert done.returncode == 0, done.stderr
    assert re.search(r"run: AUROC \d+\.\d% \(last model\), best \d+\.\d%", done.stdout), done.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["attention"] == "se" and cfg["meta_epochs"] == 1 and cfg["attention_positions"] == [1, 11]
    image = (tmp_path / "data" / "synthetic" / "cli" / "test" / "good")
    scored = run_cli("score", str(out), str(image), "--quiet", "--csv", str(tmp_path / "s.csv"))
    assert scored.returncode == 0, scored.stderr
    lines = scored.stdout.splitlines()
    assert len(lines) == len(list(image.iterdir())) + 1 and lines[-1].startswith("threshold ")
    assert all(re.search(r"\.png +score +\S+ +(good|anomalous)$", line) for line in lines[:-1]), lines
    assert (tmp_path / "s.csv").read_text().startswith("path,score,decision")


@pytest.mark.slow  # a subprocess per case
@pytest.mark.parametrize("args, names", [
    (["train", "--data", "/no/such/folder", "--preset", "ci", "--out", "X"], "/no/such/folder"),
    (["train", "--data", "synthetic:x", "--preset", "ci", "--image-size", "100", "--scales", "3", "--out", "X"],
     "image_size"),
    (["train", "--data", "synthetic:x", "--preset", "ci", "--attention", "nope", "--out", "X"], "attention"),
    (["train", "--data", "synthetic:x", "--preset", "ci", "--meta-epochs", "two", "--out", "X"], "--meta-epochs"),
    (["score", "/no/such/run", "img.png"], "/no/such/run"),
])
def test_user_errors_are_one_line_with_status_2(tmp_path, args, names):
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert names in lines[0]


@pytest.mark.slow  # a subprocess: a fresh interpreter imports torch
def test_no_gpu_when_one_is_asked_for(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = run_cli("train", "--data", "synthetic:x", "--data-root", str(tmp_path), "--preset", "ci", "--device", "cuda",
                   "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "--device cpu" in done.stderr
    assert not (tmp_path / "r").exists()


def test_demo_moves_aside_a_demo_made_with_other_settings(tmp_path, monkeypatch, capsys):
    """A runs/demo from before a preset change is kept beside the new demo, not refused (make demo must work)."""
    import adnkit.cli.main as cli
    from adnkit.config.settings import preset

    out = tmp_path / "demo"
    out.mkdir()
    old = {**preset("demo").to_dict(), "image_size": 256}
    (out / "bench.json").write_text(json.dumps({"base_config": old}, default=str))
    monkeypatch.setattr(cli, "_bench", lambda *a, **k: 0)
    assert main(["demo", "--out", str(out)]) == 0
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("demo-before-")]
    assert len(kept) == 1 and (kept[0] / "bench.json").exists() and not out.exists()
    assert "image_size" in capsys.readouterr().out
    out.mkdir()  # the same settings again: nothing is moved
    (out / "bench.json").write_text(json.dumps({"base_config": preset("demo").to_dict()}, default=str))
    assert main(["demo", "--out", str(out)]) == 0 and out.exists()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("demo-before-")]) == 1
