"""A block of one's own, without editing adnkit: registered in-process (register_attention) or named as
module:Class on the command line and in config.json, imported only when allowed; its gates through gate_taps()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import adnkit
from adnkit.attention.registry import (
    ALLOW_ENV,
    BUILT_IN_ATTENTION,
    attention_names,
    import_allowed,
    make_attention,
    unregister_attention,
)
from adnkit.attention.sites import ATTENTION_SITES
from adnkit.config import Config, preset
from adnkit.core.errors import AdnkitError, ConfigError
from adnkit.detection.detector import Detector
from adnkit.figures.plots import PALETTE, variant_color
from adnkit.model.differnet import DifferNet
from adnkit.model.probes import NoGatesWarning, feature_spread, record_gates

pytestmark = pytest.mark.usefixtures("one_thread")
WORKTREE = Path(__file__).resolve().parent.parent

# A student's block, as a file of its own: a gated 1x1-conv channel block that lists its gate.
BLOCK_SOURCE = textwrap.dedent('''
    from torch import nn


    class Block(nn.Module):
        def __init__(self, channels, reduction=2):
            super().__init__()
            self.reduction = reduction
            hidden = max(1, channels // reduction)
            self.squeeze = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
            self.gate = nn.Sigmoid()

        def forward(self, x):
            return x * self.gate(self.squeeze(x.mean(dim=(2, 3), keepdim=True)))

        def gate_taps(self):
            return [("channel", self.gate, lambda out: out.flatten(1))]
''')


class MyGate(nn.Module):
    """A 1x1-conv channel gate with its gate listed."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(channels, max(1, channels // reduction), 1)
        self.back = nn.Conv2d(max(1, channels // reduction), channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.back(torch.relu(self.conv(x.mean(dim=(2, 3), keepdim=True)))))

    def gate_taps(self):
        return [("channel", self.gate, lambda out: out.flatten(1))]


class PlainGate(nn.Module):
    """A block that lists no gates."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x):
        return x * torch.sigmoid(self.scale)


@pytest.fixture
def registered():
    adnkit.register_attention("mygate", MyGate)
    adnkit.register_attention("plaingate", PlainGate)
    yield
    unregister_attention("mygate")
    unregister_attention("plaingate")


@pytest.fixture(scope="module")
def images():
    return torch.randint(0, 256, (2, 3, 128, 128), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def _write_module(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(BLOCK_SOURCE)
    return folder


# --- in-process: register_attention ----------------------------------------------------------------------------
def test_a_registered_block_sits_at_every_slot_and_shows_its_gates(registered, images):
    cfg = preset("ci", attention="mygate", attention_site="pool", pretrained="random")
    model = DifferNet(cfg, progress=False).eval()
    assert [type(b) for b in model.backbone.attention.values()] == [MyGate] * 3
    assert model.backbone.positions == ATTENTION_SITES["pool"]
    gates = record_gates(model, images)
    assert list(gates) == list(ATTENTION_SITES["pool"])
    for position, g in gates.items():
        channels = model.backbone.attention[str(position)].back.out_channels
        assert g["channel"].shape == (2, channels) and 0 <= g["channel"].min() and g["channel"].max() <= 1
    spread = feature_spread(model, images)
    assert spread["n_images"] == 2 and spread["mean_std"] > 0


def test_a_block_without_gate_taps_has_no_gates_and_says_so(registered, images):
    model = DifferNet(preset("ci", attention="plaingate", pretrained="random"), progress=False).eval()
    with pytest.warns(NoGatesWarning, match="PlainGate") as caught:
        assert record_gates(model, images) == {}
    assert len(caught) == 1  # once, not once per block
    assert feature_spread(model, images)["n_images"] == 2


def test_registry_order_names_and_colours(registered):
    assert attention_names()[: len(BUILT_IN_ATTENTION)] == list(BUILT_IN_ATTENTION)
    assert attention_names()[-2:] == ["mygate", "plaingate"]
    assert variant_color("none") == PALETTE[0] and variant_color("se") == PALETTE[1]
    assert variant_color("mygate") == PALETTE[attention_names().index("mygate") + 1]
    spare = variant_color("not-registered")
    assert spare in PALETTE[1 + len(BUILT_IN_ATTENTION):] and variant_color("not-registered") == spare
    with pytest.raises(AdnkitError, match="built-in"):
        adnkit.register_attention("se", MyGate)
    adnkit.register_attention("mygate", PlainGate)  # a notebook cell run again: the name now means PlainGate
    assert type(make_attention("mygate", 64)) is PlainGate


def test_options_come_from_settings_and_attention_options(registered):
    adnkit.register_attention("mygate", MyGate, options={"reduction": "se_reduction"})
    model = DifferNet(preset("ci", attention="mygate", se_reduction=4, pretrained="random"), progress=False)
    assert model.backbone.attention["1"].conv.out_channels == 64 // 4
    cfg = preset("ci", attention="mygate", attention_options={"reduction": 8}, pretrained="random")
    assert DifferNet(cfg, progress=False).backbone.attention["1"].conv.out_channels == 64 // 8


# --- bad input: one line ------------------------------------------------------------------------------------------
def test_bad_options_are_one_line_naming_the_option(registered):
    with pytest.raises(ConfigError, match="reductoin") as info:
        preset("ci", attention="mygate", attention_options={"reductoin": 2})
    assert "\n" not in str(info.value) and "--attention-options" in str(info.value)
    with pytest.raises(ConfigError, match="mygate") as info:
        preset("ci", attention="mygate", attention_options={"reduction": "two"})
    assert "\n" not in str(info.value)
    adnkit.register_attention("mygate", MyGate, options={"reduction": "no_such_setting"})
    with pytest.raises(ConfigError, match="no_such_setting"):
        preset("ci", attention="mygate")


def test_a_module_not_allowed_is_never_imported(tmp_path, monkeypatch):
    _write_module(tmp_path, "refused_student_block")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(AdnkitError, match="--allow-import refused_student_block") as info:
        preset("ci", attention="refused_student_block:Block")
    assert "\n" not in str(info.value) and "register" in str(info.value)
    with pytest.raises(AdnkitError, match="allow"):
        make_attention("refused_student_block:Block", 64)
    assert "refused_student_block" not in sys.modules
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**preset("ci").to_dict(), "attention": "refused_student_block:Block"}))
    with pytest.raises(ConfigError, match=r"config\.json: attention='refused_student_block:Block'.*--allow-import"):
        Config.from_json(config)


def test_an_allowed_module_is_imported_and_registered(tmp_path, monkeypatch):
    _write_module(tmp_path / "studentpkg", "blocks")
    (tmp_path / "studentpkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(ALLOW_ENV, "studentpkg")  # a package allows its submodules
    assert import_allowed("studentpkg.blocks") and not import_allowed("studentpkgx")
    try:
        cfg = preset("ci", attention="studentpkg.blocks:Block", attention_options={"reduction": 4})
        assert "studentpkg.blocks:Block" in attention_names()
        assert make_attention(cfg.attention, 64, reduction=4).reduction == 4
        with pytest.raises(ConfigError, match="no class 'Nope'"):
            preset("ci", attention="studentpkg.blocks:Nope")
        monkeypatch.setenv(ALLOW_ENV, "studentpkg,missing_student_module")
        with pytest.raises(ConfigError, match="importing 'missing_student_module' failed") as info:
            preset("ci", attention="missing_student_module:Block")
        assert "\n" not in str(info.value)
    finally:
        unregister_attention("studentpkg.blocks:Block")


# --- the command line, process by process -------------------------------------------------------------------------
def _cli(*args: str, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(WORKTREE)])
    return subprocess.run([sys.executable, "-m", "adnkit", *args], capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained with `--attention thatmod:Block` typed on the command line (which allows thatmod)."""
    root = tmp_path_factory.mktemp("custom-attention")
    blocks = _write_module(root / "blocks", "thatmod")
    run = root / "run"
    done = _cli("train", "--attention", "thatmod:Block", "--attention-options", '{"reduction": 4}', "--preset", "ci",
                "--data", "synthetic:custom", "--data-root", str(root / "data"), "--meta-epochs", "1",
                "--sub-epochs", "1", "--max-train-images", "16", "--out", str(run), "--quiet", pythonpath=blocks)
    assert done.returncode == 0, done.stderr
    image = sorted((root / "data" / "synthetic" / "custom" / "test").rglob("*.png"))[-1]
    return dict(run=run, blocks=blocks, image=image, root=root)


@pytest.mark.slow  # subprocesses that train and score
def test_the_run_keeps_the_block_and_its_options(trained, monkeypatch):
    saved = json.loads((trained["run"] / "config.json").read_text())
    assert saved["attention"] == "thatmod:Block" and saved["attention_options"] == {"reduction": 4}
    monkeypatch.syspath_prepend(str(trained["blocks"]))
    monkeypatch.setenv(ALLOW_ENV, "thatmod")
    try:
        blocks = Detector.load(trained["run"], device="cpu").model.backbone.attention
        assert len(blocks) == 3 and {b.reduction for b in blocks.values()} == {4}
        assert {type(b).__module__ for b in blocks.values()} == {"thatmod"}
    finally:
        unregister_attention("thatmod:Block")


@pytest.mark.slow
def test_score_in_a_new_process_needs_the_allowance(trained):
    scored = _cli("score", str(trained["run"]), str(trained["image"]), "--allow-import", "thatmod", "--quiet",
                  pythonpath=trained["blocks"])
    assert scored.returncode == 0, scored.stderr
    assert trained["image"].name in scored.stdout and "threshold" in scored.stdout
    refused = _cli("score", str(trained["run"]), str(trained["image"]), "--quiet", pythonpath=trained["blocks"])
    assert refused.returncode == 2, refused.stdout
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "config.json" in lines[0] and "--allow-import thatmod" in lines[0]


@pytest.mark.slow
def test_explain_in_a_new_process_with_the_allowance(trained):
    out = trained["root"] / "explained"
    done = _cli("explain", str(trained["run"]), str(trained["image"]), "--out", str(out), "--allow-import", "thatmod",
                pythonpath=trained["blocks"])
    assert done.returncode == 0, done.stderr
    assert list(out.rglob("*.png")), done.stdout
