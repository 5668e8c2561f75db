"""ONNX export (adnkit.export.onnx_export) and scoring through onnxruntime (adnkit.export.onnx_detector,
examples/score_onnx.py).

Tiny ci-preset runs (one meta epoch of one sub-epoch, 16 training images) for none, SE and CBAM; each is
exported once and its onnxruntime scores are compared with the PyTorch scores of the same run folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the export extra: pip install -e '.[export]'")
ort = pytest.importorskip("onnxruntime", reason="the export extra: pip install -e '.[export]'")

import torch  # noqa: E402

from adnkit.cli.main import main  # noqa: E402
from adnkit.config.settings import preset  # noqa: E402
from adnkit.core.errors import AdnkitError, ExportError  # noqa: E402
from adnkit.detection.detector import Detector  # noqa: E402
from adnkit.export.onnx_detector import OnnxDetector, open_detector  # noqa: E402
from adnkit.export.onnx_export import MARKER_KEY, export_onnx  # noqa: E402
from adnkit.training.trainer import train  # noqa: E402

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # trains real runs
ROOT = Path(__file__).resolve().parents[1]
ATTENTIONS = ("none", "se", "cbam")
REL = 1e-4


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("export-data")


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("export-runs")
    for attention in ATTENTIONS:
        cfg = preset("ci", data="synthetic:export", data_root=str(data_root), attention=attention,
                     meta_epochs=1, sub_epochs=1, max_train_images=16,
                     cpu_bf16_backbone="off")  # the graph is float32: compared with PyTorch's float32 path
        train(cfg, out / attention, progress=False)
    return {a: out / a for a in ATTENTIONS}


@pytest.fixture(scope="module")
def exports(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    return {a: export_onnx(runs[a], out / f"{a}.onnx") for a in ATTENTIONS}


@pytest.fixture(scope="module")
def images(data_root, runs):
    """A few test images of both kinds, plus files in other modes and shapes that the reader converts."""
    from PIL import Image

    test = data_root / "synthetic" / "export" / "test"
    paths = sorted((test / "good").glob("*.png"))[:3] + sorted((test / "crack").glob("*.png"))[:3]
    extra = paths[0].parent.parent.parent / "extra"
    extra.mkdir(exist_ok=True)
    rgb = Image.open(paths[3]).convert("RGB")
    rgb.convert("L").save(extra / "grey.png")
    rgb.crop((0, 0, 200, 120)).save(extra / "wide.png")  # squashed to a square, not cropped
    grey16 = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 16 + 7).astype(np.uint16)
    Image.fromarray(grey16).save(extra / "grey16.png")  # 12-bit data in a 16-bit file
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    rgb.crop((0, 0, 256, 160)).save(extra / "rotated.jpg", exif=exif, quality=95)
    return paths + sorted(extra.iterdir())


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_onnxruntime_scores_equal_pytorch_scores(attention, runs, exports, images):
    reference = Detector.load(runs[attention], device="cpu").score_files(images)
    for batch in (1, 5):  # one image per call, and several (the last call holds the rest)
        table = OnnxDetector(exports[attention], threads=1, images_per_call=batch).score_files(images)
        assert list(table.columns) == ["path", "score", "decision"]
        assert table["path"].tolist() == reference["path"].tolist()
        np.testing.assert_allclose(table["score"], reference["score"], rtol=REL)
        assert table["decision"].tolist() == reference["decision"].tolist()
    # open_detector takes the .onnx path itself, like a run folder
    by_path = open_detector(str(exports[attention])).score_files(images)
    np.testing.assert_allclose(by_path["score"], reference["score"], rtol=REL)


def test_exported_rotations_are_pixel_identical_to_rotate_views(tmp_path):
    from adnkit.export.graph import FixedRotations
    from adnkit.model.views import fixed_angles, rotate_views

    size, angles = 96, fixed_angles(16)  # angles off the right angles, where rounding decides pixels
    images = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
    torch.onnx.export(FixedRotations(size, angles).eval(), (images.float(),), tmp_path / "r.onnx", dynamo=True,
                      verbose=False)
    session = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"])
    views = session.run(None, {session.get_inputs()[0].name: images.float().numpy()})[0]
    np.testing.assert_array_equal(views, rotate_views(images, angles).float().numpy())


def test_metadata_carries_threshold_config_and_marker(runs, exports):
    run = Detector.load(runs["cbam"], device="cpu")
    model = onnx.load(str(exports["cbam"]), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta[MARKER_KEY] == "1"
    assert float(meta["threshold"]) == run.threshold.value and meta["threshold_method"] == run.threshold.text
    assert int(meta["image_size"]) == run.cfg.image_size and int(meta["test_transforms"]) == run.cfg.test_transforms
    assert json.loads(meta["config"]) == json.loads(run.cfg.to_json())
    assert meta["adnkit_version"] == __import__("adnkit").__version__ and meta["batch"] == "dynamic"
    onnx.checker.check_model(model)
    detector = OnnxDetector(exports["cbam"])
    assert detector.threshold == run.threshold and detector.cfg.attention == "cbam"
    assert detector.threshold_source() == run.threshold_source()
    assert detector.image_size == run.cfg.image_size and detector.batch is None


def test_fixed_batch_export_from_the_cli(runs, images, tmp_path, capsys):
    out = tmp_path / "fixed.onnx"
    assert main(["export", str(runs["se"]), "--out", str(out), "--batch", "3", "--opset", "18"]) == 0
    assert str(out) in capsys.readouterr().out
    model = onnx.load(str(out))
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    assert {p.key: p.value for p in model.metadata_props}["batch"] == "3"
    detector = OnnxDetector(out, threads=1)
    assert detector.batch == 3 and detector.session.get_inputs()[0].shape[0] == 3
    reference = Detector.load(runs["se"], device="cpu").score_files(images)
    table = detector.score_files(images)  # 10 images: calls of 3, the last one padded
    np.testing.assert_allclose(table["score"], reference["score"], rtol=REL)
    assert table["decision"].tolist() == reference["decision"].tolist()


# --- bad input: one-line errors with the fix ---------------------------------------------------------------------
def test_exporting_a_folder_that_is_not_a_run(tmp_path, capsys):
    with pytest.raises(AdnkitError, match="not a trained run folder"):
        export_onnx(tmp_path, tmp_path / "x.onnx")
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "adnkit train" in err and not (tmp_path / "x.onnx").exists()


def test_random_test_rotations_cannot_be_exported(runs, tmp_path):
    run = tmp_path / "random"
    shutil.copytree(runs["none"], run)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "random_test_rotations": True}))
    with pytest.raises(ExportError, match="random_test_rotations=True.*--random-test-rotations false") as info:
        export_onnx(run, tmp_path / "x.onnx")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, match", [(dict(batch="0"), "--batch dynamic"), (dict(batch="two"), "--batch"),
                                           (dict(opset=13), "opset 16")])
def test_bad_batch_and_opset(runs, tmp_path, kwargs, match):
    with pytest.raises(ExportError, match=match):
        export_onnx(runs["none"], tmp_path / "x.onnx", **kwargs)


def test_an_onnx_file_from_another_program_is_refused(tmp_path, images, capsys):
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "other", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(other))
    with pytest.raises(ExportError, match="not an adnkit export.*adnkit export RUN_DIR"):
        OnnxDetector(other)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ExportError, match="cannot load"):
        OnnxDetector(tmp_path / "junk.onnx")
    assert main(["score", str(other), str(images[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not an adnkit export" in err


def test_images_of_the_wrong_size_are_refused(exports):
    detector = OnnxDetector(exports["none"])
    s = detector.image_size
    with pytest.raises(ExportError, match=f"takes uint8 \\[B, 3, {s}, {s}\\]; resize them to {s}x{s}"):
        detector.score(np.zeros((1, 3, s + 32, s + 32), np.uint8))
    with pytest.raises(ExportError, match="uint8"):
        detector.score(np.zeros((1, 3, s, s), np.float32))


# --- the deployment example: onnxruntime, numpy and Pillow only --------------------------------------------------
RUNNER = '''
import runpy, sys
BLOCKED = ("adnkit", "torch", "torchvision", "FrEIA")
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the example must run without it")
        return None
sys.meta_path.insert(0, Blocker())
example = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(example, run_name="__main__")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("MODULES-OK")
'''


def test_deploy_example_scores_like_adnkit_without_adnkit_torch_or_freia(exports, images, tmp_path):
    outside = tmp_path / "outside"  # a folder outside the repository
    outside.mkdir()
    (outside / "runner.py").write_text(RUNNER)
    done = subprocess.run([sys.executable, "-I", "runner.py", str(ROOT / "examples" / "score_onnx.py"),
                           str(exports["se"]), *map(str, images)], cwd=outside, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "MODULES-OK" and lines[-2].startswith("threshold ")
    rows = [line.split("\t") for line in lines[:-2]]
    expected = OnnxDetector(exports["se"]).score_files(images)
    assert [r[0] for r in rows] == expected["path"].tolist()
    np.testing.assert_allclose([float(r[1]) for r in rows], expected["score"], rtol=1e-6)
    assert [r[2] for r in rows] == expected["decision"].tolist()


# --- the done check, as a person types it ----------------------------------------------------------------
def _decisions(stdout: str) -> list[tuple[str, str]]:
    """(path, decision) of each image line `adnkit score` prints ("PATH  score S  DECISION"), before its threshold
    line."""
    lines = stdout.strip().splitlines()
    assert all(line.split()[1] == "score" for line in lines[:-1]) and lines[-1].startswith("threshold ")
    return [(line.split()[0], line.split()[-1]) for line in lines[:-1]]


@pytest.mark.slow
def test_train_export_score_prints_the_same_decisions_as_the_run(tmp_path):
    def adnkit(*args):
        done = subprocess.run([sys.executable, "-m", "adnkit", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stdout

    adnkit("train", "--preset", "ci", "--data", "synthetic:x", "--out", "r", "--quiet")
    adnkit("export", "r", "--out", "r.onnx")
    images = str(Path("data") / "synthetic" / "x" / "test")
    from_onnx, from_run = _decisions(adnkit("score", "r.onnx", images, "--quiet")), _decisions(
        adnkit("score", "r", images, "--quiet"))
    assert len(from_run) == 50 and {d for _, d in from_run} == {"good", "anomalous"}
    assert from_onnx == from_run
