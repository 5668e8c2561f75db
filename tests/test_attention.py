"""Attention blocks: shapes, what each block computes, and the registry."""

import pytest
import torch

from adnkit.attention.blocks import CBAM, CoordinateAttention, EfficientChannelAttention, SqueezeExcitation
from adnkit.attention.registry import BUILT_IN_ATTENTION, block_class, make_attention

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = [(1, 1), (2, 2), (7, 5), (3, 11), (13, 13)]


def test_registry():
    assert set(BUILT_IN_ATTENTION) == {"se", "cbam", "eca", "coord"}
    assert block_class("se") is SqueezeExcitation
    assert block_class("cbam") is CBAM
    assert block_class("eca") is EfficientChannelAttention
    assert block_class("coord") is CoordinateAttention


@pytest.mark.parametrize("name", sorted(BUILT_IN_ATTENTION))
@pytest.mark.parametrize("channels", [64, 192, 256])
def test_shape_is_kept(name, channels):
    torch.manual_seed(0)
    block = make_attention(name, channels).eval()
    for h, w in SIZES:
        x = torch.rand(2, channels, h, w)
        with torch.no_grad():
            y = block(x)
        assert y.shape == x.shape, (name, channels, h, w)
        assert torch.isfinite(y).all()


def test_cbam_big_kernel_keeps_shape():
    block = make_attention("cbam", 64, kernel_size=49, residual=True).eval()
    for h, w in SIZES:
        x = torch.rand(2, 64, h, w)
        assert block(x).shape == x.shape


def test_se_gates_are_channelwise_in_unit_interval():
    torch.manual_seed(1)
    channels = 64
    block = SqueezeExcitation(channels, reduction=2)
    assert block.fc[0].out_channels == 32  # reduction 2
    x = torch.rand(3, channels, 6, 9) + 0.1  # strictly positive: the ratio is defined everywhere
    with torch.no_grad():
        ratio = block(x) / x
    # One gate per (image, channel), the same at every position.
    per_channel = ratio[:, :, :1, :1]
    torch.testing.assert_close(ratio, per_channel.expand_as(ratio), rtol=1e-5, atol=1e-6)
    assert (ratio > 0).all() and (ratio < 1).all()
    # The gate is sigmoid(MLP(global average)) -- not e.g. the max.
    with torch.no_grad():
        expected = block.fc(x.mean(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(per_channel, expected, rtol=1e-5, atol=1e-6)
    # Different images get different gates.
    assert not torch.allclose(per_channel[0], per_channel[1])


def _cbam_pair(**kwargs):
    """Two CBAMs with identical weights, residual on and off."""
    torch.manual_seed(2)
    with_res = CBAM(64, residual=True, **kwargs)
    without = CBAM(64, residual=False, **kwargs)
    without.load_state_dict(with_res.state_dict())
    return with_res, without


@pytest.mark.parametrize("kernel_size", [7, 49])
def test_cbam_residual(kernel_size):
    with_res, without = _cbam_pair(kernel_size=kernel_size)
    x = torch.randn(2, 64, 9, 12)
    with torch.no_grad():
        gated, residual = without(x), with_res(x)
    torch.testing.assert_close(residual, gated + x)
    assert not torch.allclose(gated, x)
    # Without the residual every value is x times two gates in (0, 1).
    positive = torch.rand(2, 64, 9, 12) + 0.1
    with torch.no_grad():
        ratio = without(positive) / positive
    assert (ratio > 0).all() and (ratio < 1).all()


def test_cbam_defaults_and_options():
    block = CBAM(64)
    assert block.spatial.kernel_size == (7, 7) and block.residual is False  # the CBAM paper's choice
    assert block.mlp[0].out_channels == 64 // 16
    lab = make_attention("cbam", 256, reduction=16, kernel_size=49, residual=True)
    assert lab.spatial.kernel_size == (49, 49) and lab.spatial.in_channels == 2 and lab.residual is True
    assert lab.mlp[0].in_channels == 256 and lab.mlp[0].out_channels == 16
    with pytest.raises(ValueError, match="odd"):
        CBAM(64, kernel_size=8)


@pytest.mark.parametrize("kernel_size, reaches", [(7, False), (49, True)])
def test_cbam_spatial_kernel_reach(kernel_size, reaches):
    """With the channel gates made constant, a pixel influences the output only within the spatial kernel's
    radius: 3 for k=7, 24 for k=49. A change 10 px away is seen by the 49 kernel only."""
    torch.manual_seed(3)
    block = CBAM(32, reduction=4, kernel_size=kernel_size, residual=False)
    with torch.no_grad():
        for p in block.mlp.parameters():
            p.zero_()  # channel gates = sigmoid(0 + 0) = 0.5 everywhere
    x = torch.rand(1, 32, 16, 16)
    x2 = x.clone()
    x2[:, :, 0, 0] += 5.0
    with torch.no_grad():
        y, y2 = block(x), block(x2)
    far = (slice(None), slice(None), 10, 10)
    assert (not torch.allclose(y[far], y2[far])) is reaches
    near = (slice(None), slice(None), 2, 2)
    assert not torch.allclose(y[near], y2[near])


@pytest.mark.parametrize("channels, k", [(64, 3), (192, 5), (256, 5), (16, 3), (512, 5), (1024, 5)])
def test_eca_adaptive_kernel(channels, k):
    """k = nearest odd (rounding an even value up) of |log2(C) / 2 + 1 / 2| (ECA paper, gamma=2, b=1)."""
    block = EfficientChannelAttention(channels)
    assert block.conv.kernel_size == (k,)
    x = torch.rand(2, channels, 5, 4)
    assert block(x).shape == x.shape


def test_eca_explicit_kernel_and_gates():
    torch.manual_seed(4)
    block = make_attention("eca", 64, kernel_size=7)
    assert block.conv.kernel_size == (7,)
    x = torch.rand(2, 64, 5, 6) + 0.1
    with torch.no_grad():
        ratio = block(x) / x
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio), rtol=1e-5, atol=1e-6)
    assert (ratio > 0).all() and (ratio < 1).all()
    with pytest.raises(ValueError, match="odd"):
        EfficientChannelAttention(64, kernel_size=4)


def test_coordinate_attention_gates_factorise():
    """Coordinate attention multiplies by a per-row gate times a per-column gate."""
    torch.manual_seed(5)
    block = CoordinateAttention(64).eval()
    x = torch.rand(1, 64, 5, 7) + 0.1
    with torch.no_grad():
        ratio = block(x) / x  # = gate_h[c, i] * gate_w[c, j]: a rank-one matrix per channel
    assert (ratio > 0).all() and (ratio < 1).all()
    outer = ratio[:, :, :, :1] * ratio[:, :, :1, :] / ratio[:, :, :1, :1]
    torch.testing.assert_close(ratio, outer, rtol=1e-4, atol=1e-6)
    # Not a plain channel gate: the gate varies along the height and along the width.
    assert not torch.allclose(ratio, ratio[:, :, :1, :].expand_as(ratio))
    assert not torch.allclose(ratio, ratio[:, :, :, :1].expand_as(ratio))


def test_make_attention_errors():
    with pytest.raises(KeyError, match="transformer"):
        make_attention("transformer", 64)
    with pytest.raises(KeyError):
        make_attention("none", 64)
    with pytest.raises(TypeError):
        make_attention("se", 64, kernel_size=7)
    with pytest.raises(TypeError):
        make_attention("cbam", 64, reductoin=16)
