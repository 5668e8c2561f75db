"""DifferNet / AttentDifferNet end to end on tiny presets: shapes, the score, autograd, training, seeds.

A model build costs ~0.5 s on a small CPU (AlexNet), so models are built once per module; tests that change
one work on a deep copy.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from adnkit.config import PRESETS, preset
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import nll_loss
from adnkit.model.scoring import score_images
from adnkit.model.views import fixed_angles, normalize, rotate_views, to_unit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def make_model():
    built = {}

    def make(name="ci", **overrides):
        key = (name, tuple(sorted(overrides.items())))
        if key not in built:
            built[key] = DifferNet(preset(name, **overrides), progress=False)
        return copy.deepcopy(built[key])

    return make


def _images(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("attention", ["none", "se", "cbam"])
@pytest.mark.parametrize("name, overrides", [("ci", {}), ("cpu", {})])
def test_z_shapes(make_model, name, overrides, attention):
    model = make_model(name, attention=attention, **overrides)
    cfg = model.cfg
    assert cfg.embedding_dim == 256 * cfg.scales
    x = normalize(to_unit(_images(2, cfg.image_size)))
    with torch.no_grad():
        embedding = model.embed(x)
        z, logdet = model(x)
    assert embedding.shape == (2, 256 * cfg.scales) and embedding.dtype == torch.float32
    assert z.shape == (2, 256 * cfg.scales) and logdet.shape == (2,)
    assert torch.isfinite(z).all() and torch.isfinite(logdet).all()
    assert len(model.backbone.attention) == (0 if attention == "none" else 3)


def test_cpu_preset_geometry(make_model):
    model = make_model("cpu")
    size, scales = PRESETS["cpu"]["image_size"], PRESETS["cpu"]["scales"]
    assert (model.cfg.image_size, model.cfg.scales) == (size, scales)
    assert model.cfg.scale_sizes == [size // 2**k for k in range(scales)]
    x = normalize(to_unit(_images(1, size)))
    with torch.no_grad():
        assert model(x)[0].shape == (1, 256 * scales)


def test_embedding_is_multiscale_average(make_model):
    """Embedding = concat over scales S, S/2 (nearest resize) of the spatial mean of the backbone output."""
    model = make_model("ci", attention="se", cpu_bf16_backbone="off")  # float32: the definition, exactly
    x = normalize(to_unit(_images(2, 128, seed=1)))
    with torch.no_grad():
        expected = torch.cat([model.backbone(x).mean(dim=(2, 3)),
                              model.backbone(F.interpolate(x, size=(64, 64), mode="nearest")).mean(dim=(2, 3))], 1)
        got = model.embed(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got[:, :256], got[:, 256:])


def test_score_matches_hand_computation(make_model):
    model = make_model("ci")
    images = _images(2, 128, seed=2)
    angles = [0.0, 33.0, 211.5]
    scores = score_images(model, images, angles)
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    assert scores[0] != scores[1]
    expected = torch.zeros(2)
    with torch.no_grad():
        for i in range(2):
            per_view = []
            for a in angles:
                view = normalize(TF.rotate(to_unit(images[i : i + 1]), a))
                z, _ = model(view)
                per_view.append(z.pow(2).mean())
            expected[i] = torch.stack(per_view).mean()
    torch.testing.assert_close(scores, expected, rtol=1e-4, atol=1e-6)
    # The same thing through the library's view helpers.
    with torch.no_grad():
        z, _ = model(normalize(rotate_views(to_unit(images), angles)))
    torch.testing.assert_close(scores, z.pow(2).mean(dim=1).view(2, len(angles)).mean(dim=1), rtol=1e-5, atol=1e-6)
    # Images are scored independently of the batch they sit in.
    torch.testing.assert_close(score_images(model, images[1:2], angles), scores[1:2], rtol=1e-4, atol=1e-6)
    # uint8 and [0, 1] float input agree.
    torch.testing.assert_close(score_images(model, images.float() / 255, angles), scores, rtol=1e-5, atol=1e-6)


def test_score_is_deterministic_with_fixed_angles(make_model):
    model = make_model("ci", attention="cbam")
    images = _images(2, 128, seed=3)
    first = score_images(model, images)
    assert torch.equal(first, score_images(model, images))
    assert torch.equal(first, score_images(model, images, fixed_angles(model.cfg.test_transforms)))
    assert fixed_angles(4) == [0.0, 90.0, 180.0, 270.0]
    assert not torch.allclose(score_images(model, images, [45.0]), score_images(model, images, [0.0]))


def test_score_has_no_graph_unless_asked(make_model):
    model = make_model("ci")
    assert not score_images(model, _images(1, 128)).requires_grad
    images = torch.rand(1, 3, 128, 128, requires_grad=True)
    score_images(model, images, [0.0, 90.0]).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_backbone_without_autograd_when_frozen(make_model):
    model = make_model("ci", attention="se")
    assert not model.backbone.has_trainable
    x = normalize(to_unit(_images(2, 128)))
    embedding = model.embed(x)
    assert not embedding.requires_grad and embedding.grad_fn is None
    z, logdet = model(x)
    assert z.requires_grad and logdet.requires_grad


def test_backbone_with_autograd_when_attention_trains(make_model):
    model = make_model("ci", attention="se", train_attention=True)
    assert model.backbone.has_trainable
    assert all(p.requires_grad for p in model.backbone.attention.parameters())
    assert not any(p.requires_grad for p in model.backbone.features.parameters())
    embedding = model.embed(normalize(to_unit(_images(2, 128))))
    assert embedding.requires_grad
    with torch.no_grad():
        assert not model.embed(normalize(to_unit(_images(2, 128)))).requires_grad


def test_backbone_with_autograd_when_input_requires_grad(make_model):
    model = make_model("ci")
    x = normalize(to_unit(_images(2, 128))).requires_grad_(True)
    embedding = model.embed(x)
    assert embedding.requires_grad
    z, logdet = model(x)
    nll_loss(z, logdet).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.backbone.parameters())


@pytest.mark.parametrize("train_attention", [False, True])
def test_training_steps_touch_only_what_trains(make_model, train_attention):
    model = make_model("ci", attention="se", train_attention=train_attention)
    cfg = model.cfg
    groups = model.trainable_parameters()
    assert [g["name"] for g in groups] == (["flow", "attention"] if train_attention else ["flow"])
    assert groups[0]["lr"] == cfg.lr
    if train_attention:
        assert groups[1]["lr"] == pytest.approx(cfg.lr * cfg.attention_lr_scale)
        assert cfg.attention_lr_scale == 0.5
        assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.backbone.attention.parameters()}
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.flow.parameters()}

    convs = {k: v.clone() for k, v in model.backbone.features.state_dict().items()}
    flow = {k: v.clone() for k, v in model.flow.named_parameters() if v.requires_grad}
    attention = {k: v.clone() for k, v in model.backbone.attention.named_parameters()}
    optimizer = torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    model.train()
    assert model.flow.training and not model.backbone.training
    x = normalize(to_unit(_images(4, 128, seed=5)))
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = nll_loss(*model(x))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))

    for k, v in model.backbone.features.state_dict().items():
        assert torch.equal(v, convs[k]), k
    now = dict(model.flow.named_parameters())
    assert all(not torch.equal(now[k], v) for k, v in flow.items())
    for k, v in model.backbone.attention.named_parameters():
        assert torch.equal(v, attention[k]) is (not train_attention), k


def test_same_seed_same_parameters(make_model):
    a = DifferNet(preset("ci", attention="se", seed=0), progress=False)
    b = make_model("ci", attention="se")  # seed 0 is the default
    assert b.cfg.seed == 0
    c = make_model("ci", attention="se", seed=1)
    for part in ("flow", "backbone"):
        sa, sb, sc = (getattr(m, part).state_dict() for m in (a, b, c))
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k
    flow_a, flow_c = a.flow.state_dict(), c.flow.state_dict()
    float_keys = [k for k, v in flow_a.items() if v.dtype.is_floating_point]
    assert all(not torch.equal(flow_a[k], flow_c[k]) for k in float_keys)
    att_a, att_c = a.backbone.attention.state_dict(), c.backbone.attention.state_dict()
    assert att_a and all(not torch.equal(att_a[k], att_c[k]) for k in att_a)
    # ImageNet convolutions do not depend on the seed.
    for k, v in a.backbone.features.state_dict().items():
        assert torch.equal(v, c.backbone.features.state_dict()[k])


def test_building_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DifferNet(preset("ci", pretrained="random", seed=5), progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_wrong_input_size_raises(make_model):
    model = make_model("ci")
    with pytest.raises(ValueError, match="128"):
        model(torch.zeros(1, 3, 96, 96))
    with pytest.raises(ValueError):
        model(torch.zeros(1, 3, 128, 96))
    with pytest.raises(ValueError):
        score_images(model, _images(1, 192))
