"""record_gates and feature_spread (adnkit.model.probes); trained blocks change, frozen ones do not."""

import copy

import pytest
import torch

from adnkit.attention.sites import ALEXNET_SLOT_CHANNELS, ATTENTION_SITES
from adnkit.config import preset
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import nll_loss
from adnkit.model.probes import collapse_curve, embeddings_of, feature_spread, record_gates
from adnkit.model.views import normalize, to_unit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 3, 128, 128), generator=g, dtype=torch.uint8)


@pytest.fixture(scope="module")
def build():
    made = {}

    def make(**overrides):
        key = tuple(sorted(overrides.items()))
        if key not in made:
            made[key] = DifferNet(preset("ci", **overrides), progress=False).eval()
        return copy.deepcopy(made[key])

    return make


@pytest.mark.parametrize("site", ["relu", "pool"])
@pytest.mark.parametrize("attention", ["se", "cbam", "eca", "coord"])
def test_gates_lie_in_0_1_with_the_right_shapes(build, images, attention, site):
    model = build(attention=attention, attention_site=site)
    gates = record_gates(model, images)
    assert list(gates) == list(ATTENTION_SITES[site])
    spatial_sizes = []
    for position, g in gates.items():
        channels = ALEXNET_SLOT_CHANNELS[position]
        for name, gate in g.items():
            assert 0 <= gate.min() and gate.max() <= 1, (position, name)
        if attention in ("se", "cbam", "eca"):
            assert g["channel"].shape == (3, channels)
        if attention == "cbam":
            assert g["spatial"].shape[:2] == (3, 1)
            spatial_sizes.append(g["spatial"].shape[2:])
        if attention == "coord":
            assert g["height"].shape[:2] == g["width"].shape[:2] == (3, channels)
    if attention == "cbam":  # at 128 px: 31 -> 15 -> 7 after the ReLUs, 15 -> 7 -> 3 after the pools
        assert spatial_sizes == ([(31, 31), (15, 15), (7, 7)] if site == "relu" else [(15, 15), (7, 7), (3, 3)])


def test_gates_are_the_ones_the_block_applies(build, images):
    model = build(attention="se")
    gates = record_gates(model, images)
    x = normalize(to_unit(images))
    inputs = {}
    hook = model.backbone.attention["1"].register_forward_hook(lambda m, i, o: inputs.update(x=i[0], y=o))
    with torch.no_grad():
        model.backbone(x)
    hook.remove()
    assert torch.allclose(inputs["y"], inputs["x"] * gates[1]["channel"][:, :, None, None], atol=1e-6)


def test_all_scales_and_none(build, images):
    gates = record_gates(build(attention="cbam"), images, all_scales=True)
    assert all(len(g["channel"]) == len(g["spatial"]) == 2 for g in gates.values())
    assert gates[1]["spatial"][1].shape[-1] < gates[1]["spatial"][0].shape[-1]
    assert record_gates(build(attention="none"), images) == {}


def test_feature_spread(build, images):
    model = build(attention="none")
    ref = feature_spread(model, images)
    assert ref["n_images"] == 3 and ref["dim"] == 512 and ref["mean_std"] > 0
    assert 0 <= ref["near_constant_share"] < 1
    assert ref["relative_spread"] == pytest.approx(ref["mean_std"] / ref["mean_abs"])
    emb = embeddings_of(model, images)
    assert emb.shape == (3, 512)
    assert ref["mean_std"] == pytest.approx(emb.double().std(0).mean().item())
    same = feature_spread(model, images, reference=ref, max_images=2)
    assert same["n_images"] == 2
    assert feature_spread(model, images, reference=ref)["spread_vs_reference"] == pytest.approx(1.0)


def _steps(model, images, n=2):
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=1e-2)
    model.train()
    rows = normalize(to_unit(images)).repeat(2, 1, 1, 1)
    for _ in range(n):
        loss = nll_loss(*model(rows))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("trained", [False, True])
def test_trained_blocks_change_and_frozen_ones_do_not(build, images, trained):
    model = build(attention="cbam", attention_site="pool", train_attention=trained)
    before = record_gates(model, images)
    blocks = copy.deepcopy(model.backbone.attention.state_dict())
    _steps(model, images)
    after = record_gates(model.eval(), images)
    changed = [not torch.equal(blocks[k], v) for k, v in model.backbone.attention.state_dict().items()]
    gates_changed = any(not torch.equal(before[p][n], after[p][n]) for p in before for n in before[p])
    assert any(changed) is trained and all(changed) is trained
    assert gates_changed is trained


def test_collapse_curve_tracks_the_spread_while_training(build, images):
    model = build(attention="cbam", train_attention=True)
    curve = collapse_curve(model, images, images, steps=2, every=1, batch_size=2)
    assert list(curve["step"]) == [0, 1, 2] and curve["loss"].iloc[1:].notna().all()
    assert curve["mean_std"].iloc[0] != curve["mean_std"].iloc[-1]  # the trained blocks moved the features
    frozen = build(attention="cbam")
    flat = collapse_curve(frozen, images, images, steps=1, every=1, batch_size=2)
    assert flat["mean_std"].iloc[0] == flat["mean_std"].iloc[-1]
