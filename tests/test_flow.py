"""DifferNet's flow: invertibility, the log-det, the soft clamp, the loss, and the paper-sized network."""

import math

import FrEIA.modules as Fm
import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from adnkit.config.settings import preset
from adnkit.model.flow import DifferNetClamp, build_flow, count_parameters, nll_loss

pytestmark = pytest.mark.usefixtures("one_thread")

BOUND = 3 * 0.636 * math.pi / 2  # the largest |log-scale| of one dimension at clamp 3


def _log_scale(s, clamp=3.0):
    """DifferNet's soft-clamped log-scale: clamp * 0.636 * atan(s / clamp)."""
    return clamp * 0.636 * math.atan(s / clamp)


@pytest.fixture(scope="module")
def small_flow():
    torch.manual_seed(0)
    return build_flow(16, blocks=2, hidden=32, hidden_layers=2, clamp=3.0)


def test_structure():
    torch.manual_seed(0)
    flow = build_flow(16, blocks=3, hidden=32, hidden_layers=3, clamp=3.0)
    assert len(flow) == 6
    for k in range(3):
        permute, coupling = flow[2 * k], flow[2 * k + 1]
        assert isinstance(permute, Fm.PermuteRandom)
        np.random.seed(k)  # DifferNet: permutation seeded by the block index
        assert np.array_equal(permute.perm.numpy(), np.random.permutation(16))
        assert isinstance(coupling, Fm.GLOWCouplingBlock)
        assert coupling.clamp == 3.0
        assert isinstance(coupling.f_clamp, DifferNetClamp) and coupling.f_clamp.clamp == 3.0
        for subnet in (coupling.subnet1, coupling.subnet2):
            linears = [m for m in subnet if isinstance(m, nn.Linear)]
            assert [(m.in_features, m.out_features) for m in linears] == [(8, 32), (32, 32), (32, 32), (32, 16)]
            assert [type(m) for m in subnet] == [nn.Linear, nn.ReLU] * 3 + [nn.Linear]


def test_inverse(small_flow):
    torch.manual_seed(1)
    x = torch.randn(8, 16) * 2
    with torch.no_grad():
        z, logdet = small_flow(x)
        x_back, logdet_back = small_flow(z, rev=True)
    assert z.shape == (8, 16) and logdet.shape == (8,)
    assert not torch.allclose(z, x)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-5)
    torch.testing.assert_close(logdet_back, -logdet, rtol=0, atol=1e-5)


def test_logdet_equals_autograd_jacobian(small_flow):
    flow = small_flow.double()
    try:
        torch.manual_seed(2)
        x = torch.randn(4, 16, dtype=torch.float64) * 1.5
        _, logdet = flow(x)
        assert logdet.abs().max() > 0.1  # a non-trivial map
        for i in range(x.shape[0]):
            jac = jacobian(lambda v: flow(v.unsqueeze(0))[0].squeeze(0), x[i])
            assert jac.shape == (16, 16)
            sign, logabsdet = torch.linalg.slogdet(jac)
            assert sign != 0
            assert logabsdet.item() == pytest.approx(logdet[i].item(), abs=1e-4)
    finally:
        flow.float()


def test_nll_loss_by_hand():
    z = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    logdet = torch.tensor([0.5, -1.0])
    # rows: 0.5 * 5 - 0.5 = 2 and 0 + 1 = 1; mean 1.5; divided by the dimension 2.
    assert nll_loss(z, logdet).item() == pytest.approx(((0.5 * 5 - 0.5) + (0 + 1)) / 2 / 2)
    assert nll_loss(z, logdet).item() == pytest.approx(0.75)
    z3 = torch.tensor([[1.0, 1.0, 1.0]])
    assert nll_loss(z3, torch.tensor([3.0])).item() == pytest.approx((1.5 - 3.0) / 3)


def test_differnet_clamp_function():
    u = torch.tensor([-100.0, -3.0, -0.5, 0.0, 0.7, 3.0, 1e6])
    torch.testing.assert_close(DifferNetClamp(3)(u), 0.636 * torch.atan(u / 3))
    torch.testing.assert_close(DifferNetClamp(2)(u), 0.636 * torch.atan(u / 2))
    # FrEIA multiplies by clamp: the log-scale of DifferNet (2 alpha / pi) atan(s / alpha), 0.636 ~ 2 / pi.
    assert (3 * DifferNetClamp(3)(u)).abs().max() <= BOUND
    assert abs(0.636 - 2 / math.pi) < 1e-3


def _constant_coupling_flow(scale1, scale2, shift=0.25):
    """One block whose subnets output constants: subnet1 -> (scale1, shift), subnet2 -> (scale2, shift)."""
    flow = build_flow(8, blocks=1, hidden=16, hidden_layers=1, clamp=3.0)
    coupling = flow[1]
    with torch.no_grad():
        for subnet, scale in ((coupling.subnet1, scale1), (coupling.subnet2, scale2)):
            last = subnet[-1]
            last.weight.zero_()
            last.bias.copy_(torch.tensor(list(scale) + [shift] * 4))
    return flow


def test_coupling_uses_differnet_soft_clamp():
    """FrEIA 0.2's GLOWCouplingBlock (forward): with x permuted and split in halves x1, x2,
    y1 = exp(s2) * x1 + t2 with (s2, t2) = subnet2(x2), y2 = exp(s1) * x2 + t1 with (s1, t1) = subnet1(y1),
    s = clamp * f_clamp(raw), log-det = sum(s2) + sum(s1). DifferNet: s = 3 * 0.636 * atan(raw / 3)."""
    raw1, raw2 = [0.5, -1.0, 2.0, 10.0], [-4.0, 0.0, 1.0, 3.0]
    flow = _constant_coupling_flow(raw1, raw2)
    x = torch.randn(5, 8)
    with torch.no_grad():
        z, logdet = flow(x)
    expected_logdet = sum(_log_scale(s) for s in raw1 + raw2)
    torch.testing.assert_close(logdet, torch.full((5,), expected_logdet), rtol=1e-5, atol=1e-5)
    # FrEIA's default activation would give 3 * 0.636 * atan(raw) instead: clearly different.
    assert abs(expected_logdet - sum(3 * 0.636 * math.atan(s) for s in raw1 + raw2)) > 1
    xp = x[:, flow[0].perm]
    scales = torch.tensor([_log_scale(s) for s in raw2 + raw1]).exp()  # first half by subnet2's output
    torch.testing.assert_close(z, scales * xp + 0.25, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("raw", [1e6, -1e6])
def test_soft_clamp_bounds_the_log_scale(raw):
    flow = _constant_coupling_flow([raw] * 4, [raw] * 4)
    with torch.no_grad():
        _, logdet = flow(torch.randn(3, 8))
    per_dim = logdet / 8
    assert (per_dim.abs() <= BOUND + 1e-5).all()
    assert (per_dim.abs() > 0.999 * BOUND).all()  # saturated, close to the bound


def test_log_scale_bounded_for_wild_subnets():
    torch.manual_seed(3)
    flow = build_flow(16, blocks=2, hidden=32, hidden_layers=2, clamp=3.0)
    with torch.no_grad():
        for p in flow.parameters():
            if p.dtype.is_floating_point:
                p.mul_(50.0)
        x = torch.randn(16, 16) * 10
        for module in flow:
            (x,), j = module((x,))
            assert (torch.as_tensor(j).abs() <= 16 * BOUND + 1e-3).all()
        assert torch.isfinite(x).all()


@pytest.mark.slow  # allocates the paper's 172 M-parameter flow (0.7 GB)
def test_paper_flow_parameter_count():
    """The paper's flow (768-d, 8 blocks, width 2048, 3 hidden layers), built once: about 172 M parameters."""
    cfg = preset("paper")
    flow = build_flow(cfg.embedding_dim, cfg.flow_blocks, cfg.flow_hidden, cfg.flow_hidden_layers, cfg.clamp)
    n = count_parameters(flow)
    trainable = sum(p.numel() for p in flow.parameters() if p.requires_grad)
    print(f"paper flow: {n:,} parameters ({trainable:,} trainable; the rest are the permutations' indices)")
    assert 171e6 < n < 173e6
    # 16 subnets of 384-2048-2048-2048-768, counted by hand.
    per_subnet = (384 * 2048 + 2048) + 2 * (2048 * 2048 + 2048) + (2048 * 768 + 768)
    assert trainable == 16 * per_subnet == 172_077_056
    assert n - trainable == 8 * 2 * 768  # PermuteRandom keeps perm and perm_inv as frozen parameters
    couplings = [m for m in flow if isinstance(m, Fm.GLOWCouplingBlock)]
    assert len(couplings) == 8
    first = [m for m in couplings[0].subnet1 if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in first] == [(384, 2048), (2048, 2048), (2048, 2048), (2048, 768)]
    with torch.no_grad():
        z, logdet = flow(torch.randn(2, 768))
    assert z.shape == (2, 768) and logdet.shape == (2,) and torch.isfinite(z).all()
