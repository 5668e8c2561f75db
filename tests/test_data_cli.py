"""`adnkit data ...` sub-commands through argparse, as the main CLI wires them: exit codes and printed tables."""

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from adnkit.cli.data import add_data_parser
from adnkit.core.errors import DataError


def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="adnkit")
    add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


SMALL = ("--n-train", "3", "--n-test-good", "2", "--n-test-defect", "5", "--size", "64")


def test_synth_then_describe_then_list(tmp_path, capsys):
    root = str(tmp_path)
    assert run_cli("data", "synth", "object-cli", "--data-root", root, *SMALL) == 0
    assert "synthetic:object-cli" in capsys.readouterr().out
    assert run_cli("data", "describe", "synthetic:object-cli", "--data-root", root, "--val-fraction", "0") == 0
    out = capsys.readouterr().out
    assert "synthetic/object-cli" in out and "64x64" in out and "RGB" in out
    assert "train 3, test 7 (good 2, defective 5)" in out
    assert run_cli("data", "list", "--data-root", root) == 0
    out = capsys.readouterr().out
    assert "object-cli" in out and "mvtec" in out and "glass-insulator" in out and "elpv:mono" in out


def test_synth_refuses_to_overwrite_without_force(tmp_path):
    run_cli("data", "synth", "s", "--data-root", str(tmp_path), *SMALL)
    with pytest.raises(DataError, match="exists already.*--force"):
        run_cli("data", "synth", "s", "--data-root", str(tmp_path), *SMALL)
    assert run_cli("data", "synth", "s", "--data-root", str(tmp_path), "--force", *SMALL[:-2], "--size", "80") == 0
    with Image.open(tmp_path / "synthetic" / "s" / "train" / "good" / "000.png") as img:
        assert img.size == (80, 80)


def test_synth_takes_defect_scale_and_opacity_and_names_a_bad_one(tmp_path):
    run_cli("data", "synth", "fine-cli", "--data-root", str(tmp_path), *SMALL, "--defect-scale", "0.5")
    settings = json.loads((tmp_path / "synthetic" / "fine-cli" / ".complete.json").read_text())
    assert settings["defect_scale"] == 0.5 and settings["defect_opacity"] == 0.5  # the rest from the "fine" name
    with pytest.raises(DataError, match="defect_opacity=2.0 must lie in"):
        run_cli("data", "synth", "x", "--data-root", str(tmp_path), *SMALL, "--defect-opacity", "2")


def test_describe_reports_sizes_and_modes_of_a_folder(tmp_path, capsys):
    for i, mode in enumerate(("L", "RGB", "L")):
        (tmp_path / "p" / "train" / "good").mkdir(parents=True, exist_ok=True)
        Image.new(mode, (60 + i, 50)).save(tmp_path / "p" / "train" / "good" / f"{i}.png")
    (tmp_path / "p" / "test" / "good").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(tmp_path / "p" / "test" / "good" / "a.png")
    with pytest.warns(UserWarning, match="AUROC is undefined"):
        assert run_cli("data", "describe", str(tmp_path / "p"), "--batch-size", "1") == 0
    out = capsys.readouterr().out
    assert "folder/p" in out and "L, RGB" in out and "60x50" in out
    assert "train 2, val 1, test 1" in out  # 3 training images: 1 held out (never more than half for the minimum)


def test_describe_bad_spec_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        run_cli("data", "describe", str(tmp_path / "missing"))


def test_verify_exit_code_follows_the_table(tmp_path, capsys):
    assert run_cli("data", "verify", "mvtec", str(tmp_path), "--categories", "bottle") == 1
    out = capsys.readouterr().out
    assert "bottle" in out and "1 of 1 not as expected" in out
    (tmp_path / "uad").mkdir()
    assert run_cli("data", "verify", "insplad", str(tmp_path / "uad")) == 1


def test_download_puts_mvtec_under_data_root_and_keeps_the_older_flags(tmp_path, monkeypatch, capsys):
    """--data-root DIR as everywhere else (MVTec AD into DIR/mvtec); --root FOLDER and --no-progress still work."""
    import adnkit.cli.data as data_cli

    calls = []

    def fake_download(folder, **options):
        calls.append((Path(folder), options["progress"], options["keep_archive"]))
        return pd.DataFrame({"category": ["bottle"], "ok": [True]})

    monkeypatch.setattr(data_cli, "download_mvtec", fake_download)
    assert run_cli("data", "download", "mvtec", "--data-root", str(tmp_path), "--quiet", "--keep-archive") == 0
    assert f"--data mvtec:{tmp_path / 'mvtec'}/CATEGORY" in capsys.readouterr().out
    assert run_cli("data", "download", "mvtec", "--root", str(tmp_path / "elsewhere"), "--no-progress") == 0
    assert run_cli("data", "download", "mvtec", "--data-root", str(tmp_path)) == 0
    assert calls == [(tmp_path / "mvtec", False, True), (tmp_path / "elsewhere", False, False),
                     (tmp_path / "mvtec", True, False)]


def test_describe_takes_skip_bad_images_both_ways(tmp_path, capsys):
    good = tmp_path / "p" / "train" / "good"
    good.mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (64, 64)).save(good / f"{i}.png")
    (good / "broken.png").write_bytes(b"not an image")
    (tmp_path / "p" / "test" / "good").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(tmp_path / "p" / "test" / "good" / "a.png")
    spec = str(tmp_path / "p")
    with pytest.raises(DataError, match="broken.png"):
        run_cli("data", "describe", spec, "--no-skip-bad-images", "--val-fraction", "0", "--batch-size", "1")
    with pytest.warns(UserWarning):
        assert run_cli("data", "describe", spec, "--skip-bad-images", "--val-fraction", "0", "--batch-size", "1") == 0
    assert "skipped 1 bad image(s)" in capsys.readouterr().out
