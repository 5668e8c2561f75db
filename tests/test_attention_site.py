"""Placement: blocks after the max-pools (2, 5, 12) as well as after the ReLUs (1, 4, 11);
`attention_site` as the short form, and how it interacts with explicit attention_positions."""

import pytest
import torch
from torch import nn

from adnkit.attention.blocks import CBAM, SqueezeExcitation
from adnkit.attention.sites import ALEXNET_POOL_CHANNELS, ATTENTION_SITES
from adnkit.config import preset
from adnkit.core.errors import ConfigError
from adnkit.explain import resolve_layer
from adnkit.model.backbone import AttentionAlexNet
from adnkit.model.differnet import DifferNet
from adnkit.model.scoring import score_images
from adnkit.model.weights import imagenet_features_state

pytestmark = pytest.mark.usefixtures("one_thread")


def _first_conv(block: nn.Module) -> nn.Conv2d:
    return next(m for m in block.modules() if isinstance(m, nn.Conv2d))


def test_site_is_the_short_form_of_positions():
    assert preset("ci").attention_positions == (1, 4, 11) and preset("ci").attention_site == ""
    assert preset("ci", attention_site="pool").attention_positions == (2, 5, 12)
    assert preset("ci", attention_site="relu").attention_positions == (1, 4, 11)
    # Positions alone (no site) are used as given, pool positions included.
    assert preset("ci", attention_positions=(2, 5, 12)).attention_positions == (2, 5, 12)
    assert preset("ci", attention_positions=(4, 12)).attention_positions == (4, 12)
    # A site wins over either site's positions (e.g. the default (1, 4, 11) carried along) ...
    assert preset("ci", attention_site="pool", attention_positions=(1, 4, 11)).attention_positions == (2, 5, 12)
    # ... but custom positions together with a site contradict each other.
    with pytest.raises(ConfigError, match="not both"):
        preset("ci", attention_site="pool", attention_positions=(4, 7))
    with pytest.raises(ConfigError, match="--attention-site relu or pool"):
        preset("ci", attention_site="conv")


def test_replace_switches_site_and_positions():
    pool = preset("ci", attention_site="pool")
    assert pool.replace(attention_site="relu").attention_positions == (1, 4, 11)
    assert pool.replace(attention_site="").attention_positions == (2, 5, 12)  # site dropped, positions kept
    # Explicit positions drop the short form instead of being overridden by it.
    custom = pool.replace(attention_positions=(4, 11))
    assert custom.attention_positions == (4, 11) and custom.attention_site == ""
    assert pool.replace(attention_positions=(1, 4, 11)).attention_positions == (1, 4, 11)
    # The JSON round trip (config.json) keeps both.
    back = type(pool).from_dict(pool.to_dict())
    assert back.attention_site == "pool" and back.attention_positions == (2, 5, 12)


@pytest.mark.parametrize("positions", [(0,), (3,), (1, 6), (13,), (-1,)])
def test_position_that_is_neither_relu_nor_pool_is_one_line_error(positions):
    with pytest.raises(ConfigError) as err:
        preset("ci", attention_positions=positions)
    text = str(err.value)
    assert "\n" not in text and "neither a ReLU" in text and "--attention-site" in text


@pytest.mark.parametrize("attention, kind", [("se", SqueezeExcitation), ("cbam", CBAM)])
def test_blocks_land_after_the_pools_with_their_channels(attention, kind):
    net = AttentionAlexNet(attention, ATTENTION_SITES["pool"]).eval()
    assert list(net.attention) == list(net.taps) == ["2", "5", "12"]
    assert all(isinstance(net.features[p], nn.MaxPool2d) for p in (2, 5, 12))
    assert all(isinstance(b, kind) for b in net.attention.values())
    assert [_first_conv(net.attention[str(p)]).in_channels for p in (2, 5, 12)] == [
        ALEXNET_POOL_CHANNELS[p] for p in (2, 5, 12)] == [64, 192, 256]
    # Each block takes the pool's output and hands its own to the next layer (or out, after features[12]).
    seen = {}
    hooks = [net.features[p].register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(("pool", p), o))
             for p in (2, 5, 12)]
    hooks += [net.attention[str(p)].register_forward_hook(
        lambda m, i, o, p=p: seen.update({("in", p): i[0], ("out", p): o})) for p in (2, 5, 12)]
    hooks += [net.features[p + 1].register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(("next", p), i[0]))
              for p in (2, 5)]
    with torch.no_grad():
        y = net(torch.randn(2, 3, 128, 128))
    for h in hooks:
        h.remove()
    for p in (2, 5, 12):
        assert seen[("in", p)] is seen[("pool", p)]
    for p in (2, 5):
        assert torch.equal(seen[("next", p)], seen[("out", p)])
    assert torch.equal(y, seen[("out", 12)]) and y.shape == (2, 256, 3, 3)


def test_pool_site_model_loads_imagenet_weights_and_taps_follow_the_blocks():
    cfg = preset("ci", attention="cbam", attention_site="pool")
    model = DifferNet(cfg, progress=False).eval()
    assert model.backbone.weights_source != "random"
    state, _ = imagenet_features_state(progress=False)
    got = model.backbone.features.state_dict()
    assert all(torch.equal(got[k], state[k]) for k in state)
    assert model.backbone.positions == (2, 5, 12)
    # Grad-CAM's "last" is the tap after the last block, here after the last max-pool.
    assert resolve_layer(model, "last") == 12 and resolve_layer(model, "5") == 5
    with pytest.raises(ConfigError):
        resolve_layer(model, 11)
    outputs = []
    hook = model.backbone.tap().register_forward_hook(lambda m, i, o: outputs.append(o))
    with torch.no_grad():
        scores = score_images(model, torch.randint(0, 255, (1, 3, 128, 128), dtype=torch.uint8))
    hook.remove()
    assert torch.isfinite(scores).all()
    assert len(outputs) == cfg.scales  # the tap fires once per scale
    assert all(o.shape[:2] == (cfg.test_transforms, 256) for o in outputs)
