"""The `adnkit` command: help, train/score end to end, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from adnkit.cli.main import build_parser, main
from adnkit.config.settings import field_types


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adnkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "score", "bench", "demo", "explain", "data"):
        assert command in out


def test_every_config_field_is_a_train_flag():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {s for a in train._actions for s in a.option_strings}
    for name in field_types():
        assert f"--{name.replace('_', '-')}" in flags


def test_help_shows_the_values_of_the_preset_that_applies(capsys):
    """train's default preset is cpu: its value comes first, then the other presets' (not Config()'s 448)."""
    for command in ("train", "bench"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
        assert "--image-size VALUE [cpu preset: 256; paper: 448; demo: 160; ci: 128]" in out
        assert "[cpu preset: cpu; paper: auto; demo: cpu; ci: cpu]" in out  # --device
        assert "[every preset: 0.0002]" in out  # --lr, the same everywhere
        assert "default 448" not in out


@pytest.mark.slow  # a subprocess: a fresh interpreter imports torch
def test_train_then_score_end_to_end(tmp_path):
    out = tmp_path / "run"
    done = run_cli("train", "--data", "synthetic:cli", "--data-root", str(tmp_path / "data"), "--attention", "se",
                   "--preset", "ci", "--meta-epochs", "1", "--attention-positions", "1,11", "--out", str(out),
                   "--quiet")
    assert done.returncode == 0, done.stderr
    assert "AUROC last" in done.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["attention"] == "se" and cfg["meta_epochs"] == 1 and cfg["attention_positions"] == [1, 11]
    image = (tmp_path / "data" / "synthetic" / "cli" / "test" / "good")
    scored = run_cli("score", str(out), str(image), "--quiet", "--csv", str(tmp_path / "s.csv"))
    assert scored.returncode == 0, scored.stderr
    assert "decision" in scored.stdout and "threshold" in scored.stdout
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
