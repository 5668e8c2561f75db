"""Explanations: Grad-CAM family and DifferNet's gradient maps of the anomaly score, mask agreement, files."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from adnkit import explain as E
from adnkit.config.settings import preset
from adnkit.core.errors import ConfigError, DataError
from adnkit.data import load_split
from adnkit.detection.detector import Detector
from adnkit.model.differnet import DifferNet
from adnkit.model.views import normalize, to_unit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def split(explain_data_root):
    return load_split(preset("ci", data="synthetic:explain", data_root=str(explain_data_root)))


@pytest.fixture(scope="module")
def defective(split):
    return [s for s in split.test if s.label == 1 and s.mask is not None]


@pytest.fixture(scope="module")
def odd_image(defective, tmp_path_factory):
    """A defective image cropped to a non-square size unlike the network's input (rows != cols != 128)."""
    path = tmp_path_factory.mktemp("odd") / "odd.png"
    with Image.open(defective[0].path) as img:
        img.convert("RGB").crop((10, 30, 10 + 230, 30 + 170)).save(path)  # 230 wide, 170 high
    return path


@pytest.fixture(scope="module")
def variants():
    """Untrained models of each variant (ImageNet backbone, random flow): maps need no training."""
    return {a: DifferNet(preset("ci", attention=a, image_size=96, scales=1), progress=False).eval()
            for a in ("none", "se", "cbam")}


@pytest.mark.parametrize("attention", ["none", "se", "cbam"])
@pytest.mark.parametrize("method", ["gradcam", "layercam", "gradients"])
def test_maps_are_informative_and_of_the_original_size(variants, odd_image, attention, method):
    ex = E.explain_image(variants[attention], odd_image, method)
    assert ex.image.shape == (170, 230, 3)
    assert ex.map.shape == (170, 230) and ex.map.dtype == np.float32
    assert np.isfinite(ex.map).all()
    assert ex.map.min() == pytest.approx(0.0, abs=1e-6) and ex.map.max() == pytest.approx(1.0, abs=1e-6)
    assert ex.map.std() > 0.01  # not constant
    assert ex.overlay.shape == (170, 230, 3) and ex.overlay.dtype == np.uint8
    assert np.isfinite(ex.score) and ex.score > 0
    assert ex.method == method and ex.threshold is None and ex.decision is None
    assert ex.layer == ("input" if method == "gradients" else "features[11]")


def test_other_cam_methods_and_layers(variants, odd_image):
    model = variants["se"]
    assert set(E.cam_methods()) >= {"gradcam", "gradcam++", "xgradcam", "layercam"}
    assert E.CAM_METHODS["gradcam"].__name__ == "GradCAM"
    for method in ("gradcam++", "xgradcam"):
        ex = E.explain_image(model, odd_image, method)
        assert ex.map.shape == (170, 230) and ex.map.std() > 0.01
    for layer in (1, "4"):
        ex = E.explain_image(model, odd_image, "layercam", layer=layer)
        assert ex.layer == f"features[{int(layer)}]" and ex.map.std() > 0.01
    rotated = E.explain_image(model, odd_image, "layercam", angle=90)
    assert rotated.map.shape == (170, 230)
    with pytest.raises(ConfigError):
        E.explain_image(model, odd_image, "layercam", layer=7)
    with pytest.raises(ConfigError):
        E.explain_image(model, odd_image, "nonsense-cam")


def test_frozen_backbone_pitfall(variants, odd_image):
    """Without an input that requires grad, no gradient reaches the hooked layer of the frozen backbone: the
    bare library gives no usable map (1.5.x fails inside, older versions return zeros). The guard says so;
    the default path (input requires grad) gives a real map."""
    from pytorch_grad_cam import GradCAM

    model = variants["none"]
    assert not model.backbone.has_trainable
    _, net_input = E.load_image(odd_image, model.cfg.image_size)
    x = normalize(to_unit(net_input))[None]

    # the hooked activation carries no gradient when the input does not require one
    seen = []
    handle = model.backbone.tap().register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    with torch.enable_grad():
        model(x)
        model(x.clone().requires_grad_(True))
    handle.remove()
    scales = len(model.cfg.scale_sizes)
    assert seen == [False] * scales + [True] * scales

    # bare pytorch-grad-cam: blank (zeros) or an obscure failure, never a map
    cam = GradCAM(model=E.ScoreModel(model), target_layers=[model.backbone.tap()])
    try:
        bare = cam(input_tensor=x, targets=[E.score_target])
    except Exception:  # noqa: BLE001 - 1.5.7: AttributeError on the missing gradients
        bare = None
    assert bare is None or not E.is_informative(bare)
    assert not cam.activations_and_grads.gradients

    with pytest.raises(E.BlankMapError, match="no gradient reached"):
        E.cam_map(model, x, "gradcam", input_requires_grad=False)
    fine = E.cam_map(model, x, "gradcam")
    assert fine.shape == (1, 96, 96) and E.is_informative(fine)
    assert E.explain_image(model, odd_image, "gradcam").map.std() > 0.01


def test_constant_maps_raise_or_warn_loudly():
    with pytest.raises(E.BlankMapError, match="constant"):
        E.check_map(np.zeros((4, 4)), "test map", "raise")
    with pytest.raises(E.BlankMapError, match="non-finite"):
        E.check_map(np.full((4, 4), np.nan), "test map", "raise")
    with pytest.warns(E.BlankMapWarning, match="BLANK MAP"):
        assert E.check_map(np.ones((4, 4)), "test map", "warn") is False
    assert E.check_map(np.eye(4), "test map", "raise") is True


def test_mask_agreement_on_hand_made_maps():
    mask = np.zeros((8, 8), bool)
    mask[2:5, 3:7] = True
    exact = E.mask_agreement(mask.astype(float), mask)
    assert exact["pixel_auroc"] == pytest.approx(1.0) and exact["mass_inside"] == pytest.approx(1.0)
    assert exact["mask_area"] == pytest.approx(12 / 64)
    inverted = E.mask_agreement(1.0 - mask, mask)
    assert inverted["pixel_auroc"] == pytest.approx(0.0) and inverted["mass_inside"] == pytest.approx(0.0)
    # positives {0.9, 0.3, 0.6} vs negatives {0.3, 0.0, 0.1}: 3 + (0.5 + 1 + 1) + 3 = 8.5 of 9 pairs;
    # mass inside (0.9 + 0.3 + 0.6) / 2.2
    m = np.array([[0.9, 0.3, 0.0], [0.3, 0.6, 0.1]])
    k = np.array([[1, 0, 0], [1, 1, 0]], bool)
    partial = E.mask_agreement(m, k)
    assert partial["pixel_auroc"] == pytest.approx(8.5 / 9)
    assert partial["mass_inside"] == pytest.approx(1.8 / 2.2)
    assert partial["mask_area"] == pytest.approx(0.5)
    uniform = E.mask_agreement(np.ones((8, 8)), mask)  # chance: AUROC 0.5, mass = area
    assert uniform["pixel_auroc"] == pytest.approx(0.5) and uniform["mass_inside"] == pytest.approx(12 / 64)
    assert np.isnan(E.mask_agreement(m, np.zeros_like(k))["pixel_auroc"])
    assert np.isnan(E.mask_agreement(np.zeros((2, 3)), k)["mass_inside"])
    with pytest.raises(ValueError):
        E.mask_agreement(np.ones((3, 3)), k)


def test_localization_table(variants, defective):
    runs = {"DifferNet": variants["none"], "CBAM (untrained)": variants["cbam"]}
    table = E.localization_table(runs, defective[:2], "layercam")
    assert list(table["variant"]) == ["DifferNet", "CBAM (untrained)"]
    assert list(table["images"]) == [2, 2]
    for col in ("pixel_auroc_mean", "mass_inside_mean", "mask_area_mean"):
        assert table[col].between(0, 1).all(), table
    assert table["pixel_auroc_std"].notna().all()
    per_image = table.attrs["per_image"]
    assert len(per_image) == 4 and set(per_image.columns) >= {"pixel_auroc", "mass_inside", "mask_area"}
    with pytest.raises(DataError):
        E.localization_table(runs, [(defective[0].path, None)])


@pytest.mark.slow  # trains the two explain_runs
def test_explanation_of_a_run_matches_its_scores(explain_runs):
    run = Detector.load(explain_runs["none"], device="cpu")
    scores = pd.read_csv(explain_runs["none"] / "scores.csv")
    row = scores.sort_values("score").iloc[-1]
    ex = E.explain_image(run, row["path"], "gradcam")
    assert ex.score == pytest.approx(row["score"], rel=1e-4)
    assert ex.threshold == pytest.approx(run.threshold.value)
    assert ex.decision == ("anomalous" if row["score"] > run.threshold.value else "good")
    with Image.open(row["path"]) as img:
        assert ex.map.shape == (img.height, img.width)
    assert Image.open(io.BytesIO(ex.overlay_png())).size == (img.width, img.height)


@pytest.mark.slow  # trains the two explain_runs
def test_compare_figure(explain_runs, odd_image):
    runs = {name: Detector.load(path, device="cpu") for name, path in explain_runs.items()}
    fig = E.compare(runs, odd_image, "gradcam")
    assert isinstance(fig, go.Figure)
    images = [t for t in fig.data if isinstance(t, go.Image)]
    assert len(images) == 3
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "original" and all("score" in t for t in titles[1:])
    assert titles[1].startswith("none") and titles[2].startswith("se")


@pytest.mark.slow  # trains the two explain_runs
def test_write_explanations(explain_runs, defective, odd_image, tmp_path):
    # two images with the same stem in different defect folders (MVTec layout): names must not collide
    a = next(s.path for s in defective if s.path.stem == "000")
    b = next(s.path for s in defective if s.path.stem == "000" and s.path.parent != a.parent)
    out = tmp_path / "out"
    written = E.write_explanations([explain_runs["none"], explain_runs["se"]], [a, b], out, method="gradcam++",
                                   device="cpu")
    assert len(written) == 2 * 2 + 2 and all(p.is_file() for p in written)
    assert len(set(written)) == len(written)
    with Image.open(a) as img:
        size = img.size  # 256 x 256, the network sees 128 x 128
    for run in ("none", "se"):
        for image in (a, b):
            overlay = out / run / f"{image.parent.name}_000_gradcam++.png"
            assert overlay.read_bytes()[:8] == PNG_MAGIC
            with Image.open(overlay) as img:
                assert img.size == size
    with Image.open(out / "compare" / f"{a.parent.name}_000_gradcam++.png") as img:
        assert img.width >= 3 * size[0] and img.height > size[1]

    single = E.write_explanations([explain_runs["none"]], [odd_image], tmp_path / "one", method="gradients",
                                  device="cpu")
    assert single == [tmp_path / "one" / "none" / "odd_gradients.png"]
    with Image.open(single[0]) as img:
        assert img.size == (230, 170)  # the original image's size, not the network's


@pytest.mark.slow  # trains the two explain_runs
def test_write_explanations_bad_paths(explain_runs, odd_image, tmp_path):
    with pytest.raises(DataError, match="not a trained run folder") as err:
        E.write_explanations([tmp_path / "nope"], [odd_image], tmp_path / "o")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="no such file") as err:
        E.write_explanations([explain_runs["none"]], [tmp_path / "missing.png"], tmp_path / "o")
    assert "\n" not in str(err.value)


@pytest.mark.slow  # trains the two explain_runs
def test_cli_explain(explain_runs, odd_image, tmp_path, capsys):
    from adnkit.cli.main import main

    assert main(["explain", str(explain_runs["none"]), str(odd_image), "--out", str(tmp_path),
                 "--method", "layercam", "--layer", "4", "--device", "cpu"]) == 0
    assert (tmp_path / "none" / "odd_layercam.png").is_file()
    assert main(["explain", str(explain_runs["none"]), str(odd_image), "--compare", str(explain_runs["se"]),
                 "--out", str(tmp_path / "c"), "--device", "cpu"]) == 0
    assert len(list((tmp_path / "c" / "compare").glob("*.png"))) == 1
    assert main(["explain", str(tmp_path / "missing"), str(odd_image), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adnkit: error:") and "\n" not in err


def test_cam_under_bfloat16_autocast(variants):
    """On CUDA with cfg.amp the backbone runs under bfloat16 autocast; numpy (inside pytorch-grad-cam)
    cannot take bfloat16 activations, so the hook point hands them over as float32. Simulated on the CPU."""
    model = variants["none"]
    x = torch.randn(1, 3, 96, 96)
    dtypes = []
    handle = model.backbone.tap().register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps = E.cam_map(model, x, "gradcam")
    handle.remove()
    assert dtypes == [torch.bfloat16]
    assert maps.dtype == np.float32 and E.is_informative(maps)
