"""The small shared helpers: +- formatting, safe file names, spec names, the flow's parameter count, the
AUROC's standard error, and the one mask reader."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from adnkit import explain
from adnkit.config.settings import preset
from adnkit.core.errors import AdnkitError, DataError
from adnkit.core.formatting import pm, safe_name
from adnkit.data import Sample, read_mask, read_mask_file, spec_names
from adnkit.evaluation.auroc import auroc_standard_error
from adnkit.experiments import bench
from adnkit.model.flow import build_flow, count_parameters, flow_parameters


def test_pm():
    assert pm(0.9487, 0.0123) == "94.87 +- 1.23"
    assert pm(0.0177, 0.0025, signed=True) == "+1.77 +- 0.25"
    assert pm(-0.01, None, signed=True) == "-1.00"
    assert pm(0.5, float("nan")) == "50.00"
    assert pm(float("nan"), 0.1) == "-" and pm(None) == "-"
    assert pm(np.float64(0.25), np.float64(0.01), sep=" &plusmn; ") == "25.00 &plusmn; 1.00"
    assert pm(1.77, 0.25, scale=1) == "1.77 +- 0.25"


def test_safe_name():
    assert safe_name("gradcam++") == "gradcam++"
    assert safe_name("synthetic-my toy") == "synthetic-my_toy"
    assert safe_name("a / b\\c") == "a_b_c"
    assert safe_name("__x__") == "x" and safe_name("???") == "x"


def test_spec_names_live_in_the_data_package():
    assert bench.spec_names is spec_names
    assert spec_names("mvtec:/data/mvtec/metal_nut") == ("mvtec", "metal_nut")
    assert spec_names("MVTec:/data/mvtec/bottle") == ("mvtec", "bottle")
    assert spec_names("elpv:mono") == ("elpv", "mono")
    assert spec_names("synthetic:my toy") == ("synthetic", "my toy")
    assert spec_names("/data/wafers/lot7/") == ("folder", "lot7")
    assert spec_names("folder:parts/screw") == ("folder", "screw")
    assert spec_names("insplad:root/vari-grip") == ("insplad", "vari-grip")


def test_flow_parameters_of_each_preset():
    for name in ("ci", "cpu"):
        cfg = preset(name)
        flow = build_flow(cfg.embedding_dim, cfg.flow_blocks, cfg.flow_hidden, cfg.flow_hidden_layers, cfg.clamp)
        assert flow_parameters(cfg) == count_parameters(flow)
    paper = flow_parameters(preset("paper"))  # on the meta device: no 0.7 GB allocated
    assert 170e6 < paper < 175e6
    assert count_parameters(torch.nn.Linear(3, 2)) == 8


def test_auroc_standard_error_matches_the_spread_of_measured_aurocs():
    """Hanley & McNeil's SE against the standard deviation of AUROCs measured on 2000 simulated test sets of
    40 defective and 60 good images (binormal scores with a true AUROC of 0.85)."""
    n_bad, n_good, true_auc = 40, 60, 0.85
    shift = math.sqrt(2) * 1.0364333894937898  # Phi^-1(0.85): AUROC of N(shift, 1) vs N(0, 1)
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(shift, 1, (2000, n_bad)), rng.normal(0, 1, (2000, n_good))], axis=1)
    ranks = rankdata(scores, axis=1)[:, :n_bad]  # Mann-Whitney: AUROC from the defective images' ranks
    measured = (ranks.sum(axis=1) - n_bad * (n_bad + 1) / 2) / (n_bad * n_good)
    labels = np.r_[np.ones(n_bad), np.zeros(n_good)]
    assert measured[0] == pytest.approx(roc_auc_score(labels, scores[0]))
    assert np.mean(measured) == pytest.approx(true_auc, abs=0.01)
    se = auroc_standard_error(true_auc, n_bad, n_good)
    assert se == pytest.approx(np.std(measured), rel=0.15)
    assert auroc_standard_error(0.85, 4 * n_bad, 4 * n_good) == pytest.approx(se / 2, rel=0.05)  # ~ 1/sqrt(n)
    assert auroc_standard_error(1.0, 10, 10) == 0.0
    with pytest.raises(AdnkitError, match="auc=1.5"):
        auroc_standard_error(1.5, 10, 10)
    with pytest.raises(AdnkitError, match="n_good=0"):
        auroc_standard_error(0.9, 10, 0)


def test_one_mask_reader(tmp_path):
    mask = np.zeros((40, 60), np.uint8)
    mask[:20] = 1  # a 0/1 mask, not 0/255
    Image.fromarray(mask).save(tmp_path / "m.png")
    full = read_mask_file(tmp_path / "m.png", (40, 60))
    assert full.dtype == bool and full[:20].all() and not full[20:].any()
    small = read_mask_file(tmp_path / "m.png", (10, 15))
    assert small.shape == (10, 15) and small[:5].all() and not small[5:].any()
    t = read_mask(Sample(tmp_path / "i.png", 1, "crack", tmp_path / "m.png"), 16)
    assert torch.equal(t, torch.from_numpy(read_mask_file(tmp_path / "m.png", (16, 16))))
    assert explain.read_mask_file is read_mask_file
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png: cannot read mask"):
        read_mask_file(tmp_path / "bad.png", (4, 4))
