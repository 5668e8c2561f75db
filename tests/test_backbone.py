"""AttentionAlexNet: where the blocks sit, what is frozen, and that the plain variant is torchvision's AlexNet.

Building an AlexNet takes ~0.5 s on a small CPU (torchvision initialises the whole classifier too), so each
variant is built once per module and tests work on deep copies.
"""

import copy

import pytest
import torch
import torchvision
from torch import nn

from adnkit.attention.blocks import CBAM, SqueezeExcitation
from adnkit.model.backbone import AttentionAlexNet

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def make_net():
    built = {}

    def make(attention="none", positions=(1, 4, 11), **options):
        key = (attention, tuple(positions), tuple(sorted(options.items())))
        if key not in built:
            torch.manual_seed(len(built))
            built[key] = AttentionAlexNet(attention, positions, **options)
        return copy.deepcopy(built[key])

    return make


@pytest.fixture(scope="module")
def reference_features():
    torch.manual_seed(1)
    return torchvision.models.alexnet(weights=None).features.eval()


def _first_conv(block: nn.Module) -> nn.Conv2d:
    return next(m for m in block.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("attention, kind", [("none", None), ("se", SqueezeExcitation), ("cbam", CBAM)])
def test_slots_after_relus_of_conv1_conv2_conv5(make_net, attention, kind):
    net = make_net(attention)
    assert net.positions == (1, 4, 11)
    assert list(net.taps.keys()) == ["1", "4", "11"]
    # The slots follow ReLUs: conv1 (features[0]), conv2 ([3]), conv5 ([10]).
    for p, conv in ((1, 0), (4, 3), (11, 10)):
        assert isinstance(net.features[p], nn.ReLU)
        assert isinstance(net.features[conv], nn.Conv2d)
    assert [net.features[i].out_channels for i in (0, 3, 10)] == [64, 192, 256]
    if kind is None:
        assert len(net.attention) == 0
        return
    assert list(net.attention.keys()) == ["1", "4", "11"]
    assert [_first_conv(net.attention[k]).in_channels for k in ("1", "4", "11")] == [64, 192, 256]
    assert all(isinstance(b, kind) for b in net.attention.values())


def test_options_reach_the_blocks(make_net):
    net = make_net("cbam", reduction=16, kernel_size=49, residual=True)
    for block in net.attention.values():
        assert block.spatial.kernel_size == (49, 49) and block.residual is True
    net = make_net("se", reduction=4)
    assert [b.fc[0].out_channels for b in net.attention.values()] == [16, 48, 64]


def test_relus_are_not_inplace(make_net):
    net = make_net("se")
    relus = [m for m in net.features if isinstance(m, nn.ReLU)]
    assert len(relus) == 5 and not any(r.inplace for r in relus)


def test_configurable_positions(make_net):
    torch.manual_seed(0)
    net = make_net("se", positions=(4, 7, 9)).eval()
    assert list(net.attention.keys()) == ["4", "7", "9"]
    assert [_first_conv(b).in_channels for b in net.attention.values()] == [192, 384, 256]
    # Each block receives the output of features[p] and hands its output to the next layer.
    seen = {}
    hooks = [net.features[p].register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(("relu", p), o))
             for p in (4, 7, 9)]
    hooks += [net.attention[str(p)].register_forward_hook(
        lambda m, i, o, p=p: seen.update({("in", p): i[0], ("out", p): o})) for p in (4, 7, 9)]
    hooks += [net.features[p + 1].register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(("next", p), i[0]))
              for p in (4, 7, 9)]
    with torch.no_grad():
        y = net(torch.randn(2, 3, 96, 96))
    for h in hooks:
        h.remove()
    assert y.shape[:2] == (2, 256)
    for p in (4, 7, 9):
        assert seen[("in", p)] is seen[("relu", p)]
        assert torch.equal(seen[("next", p)], seen[("out", p)])
        assert not torch.equal(seen[("out", p)], seen[("in", p)])
    assert "1" not in net.attention and "11" not in net.attention


@pytest.mark.parametrize("attention", ["none", "se", "cbam", "eca", "coord"])
def test_convolutions_never_require_grad(make_net, attention):
    net = make_net(attention)
    for trainable in (True, False, True):
        net.set_attention_trainable(trainable)
        assert not any(p.requires_grad for p in net.features.parameters())
        attention_params = list(net.attention.parameters())
        if attention == "none":
            assert attention_params == [] and not net.has_trainable
            continue
        assert attention_params
        assert all(p.requires_grad is trainable for p in attention_params)
        assert net.has_trainable is trainable


def test_frozen_convolutions_get_no_gradient(make_net):
    net = make_net("se").eval()
    net.set_attention_trainable(True)
    x = torch.randn(2, 3, 96, 96, requires_grad=True)
    net(x).square().mean().backward()
    assert all(p.grad is None for p in net.features.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.attention.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_none_variant_equals_torchvision_features(make_net, reference_features):
    reference = reference_features
    net = make_net("none").eval()
    net.features.load_state_dict(reference.state_dict())
    x = torch.randn(3, 3, 128, 160)
    with torch.no_grad():
        expected, got = reference(x), net(x)
    assert got.shape == expected.shape == (3, 256, 3, 4)
    assert torch.equal(got, expected)
    # A block changes the output (same conv weights).
    se = make_net("se").eval()
    se.features.load_state_dict(reference.state_dict())
    with torch.no_grad():
        assert not torch.allclose(se(x), expected)


def test_state_dict_keys_match_torchvision(make_net, reference_features):
    reference = reference_features.state_dict()
    net = make_net("cbam")
    assert {k: v.shape for k, v in net.features.state_dict().items()} == {k: v.shape for k, v in reference.items()}


@pytest.mark.parametrize("attention", ["none", "se"])
def test_last_tap_is_reached(make_net, attention):
    torch.manual_seed(2)
    net = make_net(attention).eval()
    assert net.tap() is net.taps["11"] and net.tap(4) is net.taps["4"]
    calls = []
    hook = net.tap().register_forward_hook(lambda m, i, o: calls.append(o))
    last_relu = []
    hook2 = net.features[11].register_forward_hook(lambda m, i, o: last_relu.append(o))
    with torch.no_grad():
        y = net(torch.randn(2, 3, 128, 128))
    hook.remove()
    hook2.remove()
    assert len(calls) == 1
    tapped = calls[0]
    assert tapped.shape == (2, 256, 7, 7)
    # The tap sees the activation after the last attention block, before the final max-pool.
    if attention == "none":
        assert torch.equal(tapped, last_relu[0])
    else:
        with torch.no_grad():
            assert torch.equal(tapped, net.attention["11"](last_relu[0]))
    assert torch.equal(y, net.features[12](tapped))
    with pytest.raises(KeyError, match="slots"):
        net.tap(7)


def test_gradient_flows_through_the_tap(make_net):
    """Grad-CAM needs a gradient at the tap even with a frozen network: the input carries it."""
    net = make_net("none").eval()
    grads = []
    net.tap().register_full_backward_hook(lambda m, gi, go: grads.append(go[0]))
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    net(x).sum().backward()
    assert len(grads) == 1 and grads[0].shape == (1, 256, 7, 7) and grads[0].abs().sum() > 0
