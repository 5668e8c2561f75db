"""The settings on the command line: --print-config and --config FILE (JSON or YAML) in both directions, the order
preset < file < flags, switches as --x / --no-x (and the older `--x true`), help grouped by concern with the rarely
changed settings behind --help-all, and one-line errors."""

from __future__ import annotations

import argparse
import json
import re

import pytest
import yaml

import adnkit.cli.main as cli
from adnkit.cli.main import build_parser, main
from adnkit.cli.settings import first_sentence, switch_spelling
from adnkit.config import Config, field_docs, field_types, group_fields, preset
from adnkit.config.groups import RARELY_CHANGED
from adnkit.config.presets import machine_preset

SETTING_COMMANDS = ("train", "bench", "demo", "study")


def printed(capsys, *argv: str) -> str:
    """stdout of `adnkit ARGV`, which must exit with status 0."""
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def failed(capsys, *argv: str) -> str:
    """The one line `adnkit ARGV` writes to stderr when it exits with status 2."""
    try:
        status = main(list(argv))
    except SystemExit as stop:  # argparse's own errors
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("adnkit: error: ")
    return err


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 0
    return capsys.readouterr().out


# --- --print-config and --config -------------------------------------------------------------------------
def test_print_config_is_a_runs_config_json(capsys):
    """No --preset: cpu; the JSON is what a run folder's config.json holds (Config.to_json)."""
    assert printed(capsys, "train", "--print-config") == preset("cpu").to_json() + "\n"
    out = printed(capsys, "train", "--preset", "ci", "--attention", "se", "--image-size", "160", "--print-config")
    assert out == preset("ci", attention="se", image_size=160).to_json() + "\n"


@pytest.mark.parametrize("fmt, name", [("json", "settings.json"), ("yaml", "settings.yaml")])
def test_print_config_given_back_to_config_gives_the_same_config(tmp_path, capsys, fmt, name):
    typed = ["--preset", "ci", "--attention", "cbam", "--attention-site", "pool", "--no-amp", "--lr", "1e-5",
             "--betas", "0.9,0.99", "--attention-options", '{"reduction": 8}', "--data", "elpv:poly"]
    first = printed(capsys, "train", *typed, "--print-config", fmt)
    if fmt == "yaml":
        assert yaml.safe_load(first)["cpu_bf16_backbone"] == "off"  # quoted, not YAML's boolean
    path = tmp_path / name
    path.write_text(first)
    expected = preset("ci", attention="cbam", attention_site="pool", amp=False, lr=1e-5, betas=(0.9, 0.99),
                      attention_options={"reduction": 8}, data="elpv:poly")
    assert Config.from_json(path) == expected
    again = printed(capsys, "train", "--config", str(path), "--print-config", fmt)
    assert again == first
    assert printed(capsys, "train", "--config", str(path), "--print-config") == expected.to_json() + "\n"


def test_preset_then_file_then_flags(tmp_path, capsys):
    """A file with some settings: the preset fills the others; a flag wins over the file."""
    path = tmp_path / "mine.yml"
    path.write_text("image_size: 192\nlr: 0.001\nattention: se\ntrain_attention: true\n")
    out = json.loads(printed(capsys, "train", "--preset", "ci", "--config", str(path), "--lr", "0.002",
                             "--no-train-attention", "--print-config"))
    assert (out["image_size"], out["attention"], out["lr"], out["train_attention"]) == (192, "se", 0.002, False)
    assert out["flow_hidden"] == preset("ci").flow_hidden and out["device"] == preset("ci").device == "auto"
    without_preset = json.loads(printed(capsys, "train", "--config", str(path), "--print-config"))
    assert without_preset["flow_hidden"] == preset(machine_preset()).flow_hidden  # the machine's preset fills the rest


def test_flags_over_a_file_site_or_positions(tmp_path, capsys):
    """Typed positions replace the file's site (and a typed site the file's positions), as Config.replace does."""
    path = tmp_path / "run.json"
    path.write_text(preset("ci", attention="se", attention_site="pool").to_json())
    out = json.loads(printed(capsys, "train", "--config", str(path), "--attention-positions", "1,4", "--print-config"))
    assert (out["attention_site"], out["attention_positions"]) == ("", [1, 4])


def test_every_settings_command_prints_its_config(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"image_size": 160, "meta_epochs": 1}))
    for command in SETTING_COMMANDS:
        head = ["study", "attention"] if command == "study" else [command]
        out = json.loads(printed(capsys, *head, "--config", str(path), "--sub-epochs", "3", "--print-config"))
        assert (out["image_size"], out["meta_epochs"], out["sub_epochs"]) == (160, 1, 3), command


def test_train_with_a_runs_config_reproduces_its_settings(tmp_path, monkeypatch, capsys):
    """`adnkit train --config RUN/config.json --out NEW` trains with RUN's settings, whatever the default preset;
    the training itself is adnkit.training's (tests/test_cli.py trains for real)."""
    old = preset("paper", attention="se", image_size=320, meta_epochs=2, threshold_method="youden", seed=3)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(old.to_json() + "\n")
    trained = {}

    def fake_train(cfg, out, resume=False, progress=True):
        trained.update(cfg=cfg, out=out)
        return dict(auroc_last=0.9876, auroc_best=1.0, best_epoch=2, train_images_per_s=1.0, test_images_per_s=2.0)

    monkeypatch.setattr(cli, "train", fake_train)
    out = printed(capsys, "train", "--config", str(tmp_path / "run" / "config.json"), "--out", str(tmp_path / "new"),
                  "--quiet")
    assert trained["cfg"] == old and trained["cfg"].to_json() == old.to_json()
    assert "AUROC 98.8% (last model), best 100.0% at meta epoch 2" in out  # percent, as bench and demo print
    printed(capsys, "train", "--config", str(tmp_path / "run" / "config.json"), "--seed", "4", "--out", "x")
    assert trained["cfg"] == old.replace(seed=4)


@pytest.mark.parametrize("content, name, words", [
    ('{"image_size": 128, "imagesize": 2}', "c.json", ["c.json", "unknown setting 'imagesize'"]),
    ('{"meta_epochs": "two"}', "c.json", ["c.json", "'meta_epochs'", "expected int"]),
    ("cpu_bf16_backbone: off\n", "c.yaml", ["c.yaml", "'cpu_bf16_backbone'", "quote the value"]),
    ("lr: 1e-4\n", "c.yaml", ["c.yaml", "'lr'", "1.0e-4"]),
    ("image_size: [1, 2\n", "c.yaml", ["c.yaml", "cannot read config as YAML"]),
    ("image_size: 1\n", "c.txt", ["c.txt", "cannot read config as JSON", ".yaml"]),
    ("- 1\n- 2\n", "c.yaml", ["c.yaml", "expected a JSON object of settings"]),
])
def test_a_bad_config_file_is_one_line_naming_the_file_and_the_setting(tmp_path, capsys, content, name, words):
    (tmp_path / name).write_text(content)
    err = failed(capsys, "train", "--config", str(tmp_path / name), "--print-config")
    for word in words:
        assert word in err, err


def test_a_missing_config_file_or_out_folder_is_one_line(tmp_path, capsys):
    assert "no-such.yaml" in failed(capsys, "train", "--config", str(tmp_path / "no-such.yaml"), "--out", "x")
    assert "needs --out DIR" in failed(capsys, "train", "--preset", "ci")
    assert "needs --data SPEC" in failed(capsys, "bench", "--out", str(tmp_path))


# --- switches -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, value", [
    (["--train-attention"], True), (["--no-train-attention"], False), ([], False),
    (["--train-attention", "true"], True), (["--train-attention", "off"], False),  # older scripts' spelling
    (["--train-attention=yes"], True), (["--train-attention=0"], False),
])
def test_switches_both_ways_and_the_older_spelling(capsys, argv, value):
    out = json.loads(printed(capsys, "train", "--attention", "se", *argv, "--print-config"))
    assert out["train_attention"] is value


def test_switch_spelling_leaves_everything_else_alone():
    assert switch_spelling(["train", "--amp", "false", "--data", "true", "--cbam-residual=on", "--quiet"]) == \
        ["train", "--no-amp", "--data", "true", "--cbam-residual", "--quiet"]
    assert switch_spelling(["train", "--amp", "--seed", "1"]) == ["train", "--amp", "--seed", "1"]


def all_parsers(parser: argparse.ArgumentParser, name: str = "adnkit"):
    """(command name, parser) for the parser and every sub-command below it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from all_parsers(sub, f"{name} {sub_name}")


def test_the_same_option_is_spelled_and_behaves_the_same_in_every_command():
    switches = {"--quiet", "--resume", "--skip-bad-images", "--force", "--keep-archive"}
    seen = set()
    for command, parser in all_parsers(build_parser()):
        for action in parser._actions:
            shown = action.help != argparse.SUPPRESS
            for option in action.option_strings:
                seen.add(option)
                assert "_" not in option, (command, option)
                if option in switches:
                    assert isinstance(action, argparse.BooleanOptionalAction), (command, option)
                if shown:  # --root and --no-progress remain for older scripts, unlisted
                    assert option not in ("--root", "--no-progress"), (command, option)
    assert switches <= seen


# --- help ----------------------------------------------------------------------------------------------------
def test_help_is_grouped_by_concern_and_leaves_rare_settings_to_help_all(capsys):
    for command in SETTING_COMMANDS:
        short = help_text(capsys, command, "--help")
        whole = help_text(capsys, command, "--help-all")
        titles = [line[:-1] for line in short.splitlines() if line.endswith("settings:")]
        assert titles == ["settings", *(f"{group} settings" for group in group_fields())], command
        for name in field_types():
            pattern = rf"--(\[no-\])?{name.replace('_', '-')}(?![\w-])"
            if name in RARELY_CHANGED:
                assert not re.search(pattern, short) and (re.search(pattern, whole) or command != "train"), name
            elif command == "train":
                assert re.search(pattern, short), name
        assert len(short.splitlines()) < len(whole.splitlines()) / 1.5


def test_short_help_is_each_first_sentence_and_help_all_the_whole_docstring(capsys):
    short = " ".join(help_text(capsys, "train", "--help").split())
    whole = " ".join(help_text(capsys, "train", "--help-all").split())
    doc = field_docs()["threshold_method"]
    assert first_sentence(doc) in short and doc.removesuffix(".") in whole and doc.removesuffix(".") not in short
    assert first_sentence("Share, e.g. 0.1 of them. More.") == "Share, e.g. 0.1 of them"
    assert first_sentence("Scales: a, a/2, ... each. More.") == "Scales: a, a/2, ... each"


def test_no_measurements_in_the_help(capsys):
    """Numbers measured on some machine belong in docs/benchmarks.md, not in settings' descriptions."""
    for command in SETTING_COMMANDS:
        whole = " ".join(help_text(capsys, command, "--help-all").split())
        assert not re.search(r"AUROC points|paired seeds|\d(\.\d+)?-\d(\.\d+)?x faster|README", whole), command


def test_rarely_changed_names_real_settings():
    assert RARELY_CHANGED <= set(field_types())


def test_usage_mistakes_are_one_line_too(capsys):
    assert "--no-such-flag" in failed(capsys, "train", "--no-such-flag", "--out", "x")
    assert "invalid choice: 'gpu9'" in failed(capsys, "train", "--preset", "gpu9", "--out", "x")
    assert "--meta-epochs 'two'" in failed(capsys, "train", "--meta-epochs", "two", "--out", "x")


@pytest.mark.slow  # trains two tiny networks
def test_a_new_run_from_a_runs_config_json_has_the_same_config_json(tmp_path, capsys):
    """The issue's check, for real: `adnkit train --config RUN/config.json --out NEW` writes RUN's config.json."""
    first = tmp_path / "run"
    printed(capsys, "train", "--preset", "ci", "--data", "synthetic:cfg", "--data-root", str(tmp_path / "data"),
            "--attention", "se", "--attention-site", "pool", "--meta-epochs", "1", "--sub-epochs", "1",
            "--max-train-images", "8", "--no-cbam-residual", "--target-fpr", "0.05", "--out", str(first), "--quiet")
    again = tmp_path / "again"
    printed(capsys, "train", "--config", str(first / "config.json"), "--out", str(again),
            "--quiet")
    assert (again / "config.json").read_text() == (first / "config.json").read_text()
    assert json.loads((again / "config.json").read_text())["attention_positions"] == [2, 5, 12]
