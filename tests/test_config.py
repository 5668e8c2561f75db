"""Config: presets, the paper's numbers (docs/method.md), overrides, JSON round-trip, validation, CLI parsing."""

import json

import pytest
import torch
import torchvision

import adnkit
import adnkit.config as face
from adnkit.attention.registry import block_options
from adnkit.attention.sites import ALEXNET_MIN_SIDE
from adnkit.config import GROUPS, PRESETS, Config, field_docs, field_group, field_types, parse_value, preset
from adnkit.core.errors import AdnkitError, ConfigError


def test_presets_exist():
    assert {"paper", "cpu", "ci"} <= set(PRESETS)
    for name in ("paper", "cpu", "ci"):
        assert isinstance(preset(name), Config)
    with pytest.raises(ConfigError, match="nope"):
        preset("nope")


def test_paper_preset_is_differnet_recipe():
    cfg = preset("paper")
    assert cfg.image_size == 448
    assert cfg.scales == 3
    assert cfg.scale_sizes == [448, 224, 112]
    assert cfg.embedding_dim == 768
    assert cfg.flow_blocks == 8
    assert cfg.flow_hidden == 2048
    assert cfg.flow_hidden_layers == 3
    assert cfg.clamp == 3.0
    assert cfg.lr == 2e-4
    assert cfg.betas == (0.8, 0.8)
    assert cfg.eps == 1e-4
    assert cfg.weight_decay == 1e-5
    assert cfg.meta_epochs == 24
    assert cfg.sub_epochs == 8
    assert cfg.batch_size == 24
    assert cfg.train_transforms == 4
    assert cfg.test_transforms == 64
    # DifferNet itself: no attention, ImageNet backbone, nothing but the flow trained.
    assert cfg.attention == "none"
    assert cfg.pretrained == "imagenet"
    assert cfg.train_attention is False
    # AttentDifferNet's slots: after the ReLUs of conv1, conv2, conv5.
    assert cfg.attention_positions == (1, 4, 11)
    # Not verifiable from the paper; the documented defaults follow the authors' lab code.
    assert (cfg.se_reduction, cfg.cbam_reduction, cfg.cbam_kernel_size, cfg.cbam_residual) == (2, 16, 49, True)
    assert preset("paper") == Config()


def test_small_presets_are_small_and_valid():
    ci, cpu = preset("ci"), preset("cpu")
    assert ci.flow_hidden < cpu.flow_hidden < preset("paper").flow_hidden
    assert ci.device == cpu.device == "auto"  # every preset computes where `auto` finds (tests/test_device.py)
    for cfg in (ci, cpu):
        assert min(cfg.scale_sizes) >= ALEXNET_MIN_SIDE
        assert cfg.embedding_dim == 256 * cfg.scales


def test_overrides():
    cfg = preset("cpu", image_size=256, attention="se")
    assert cfg.image_size == 256 and cfg.attention == "se"
    assert cfg.scales == PRESETS["cpu"]["scales"]
    assert cfg.flow_hidden == PRESETS["cpu"]["flow_hidden"]
    # Fields the preset does not set keep the paper's values.
    assert cfg.lr == 2e-4 and cfg.betas == (0.8, 0.8)
    other = cfg.replace(attention_positions=[4, 11], betas=[0.9, 0.99])
    assert other.attention_positions == (4, 11) and other.betas == (0.9, 0.99)
    assert cfg.attention_positions == (1, 4, 11)  # replace() copies
    with pytest.raises(ConfigError):
        cfg.replace(scales=0)


def test_json_round_trip(tmp_path):
    cfg = preset("ci", attention="cbam", attention_positions=(4, 11), betas=(0.9, 0.99), cbam_residual=False,
                 lr=3e-4, seed=7)
    path = tmp_path / "config.json"
    text = cfg.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text)
    back = Config.from_json(path)
    assert back == cfg
    assert isinstance(back.attention_positions, tuple) and back.attention_positions == (4, 11)
    assert isinstance(back.betas, tuple) and back.betas == (0.9, 0.99)
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_from_json_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Config.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        Config.from_json(bad)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({**Config().to_dict(), "colour": 1}))
    with pytest.raises(ConfigError, match="colour"):
        Config.from_json(unknown)


def test_alexnet_minimum_side_is_real():
    """ALEXNET_MIN_SIDE is the smallest side AlexNet's `features` accepts (63 works, 62 does not)."""
    with torch.device("meta"):  # only the geometry matters: skip initialising 61 M parameters
        features = torchvision.models.alexnet(weights=None).features
    features = features.to_empty(device="cpu").eval()
    with torch.no_grad():
        assert features(torch.zeros(1, 3, ALEXNET_MIN_SIDE, ALEXNET_MIN_SIDE)).shape == (1, 256, 1, 1)
        with pytest.raises(RuntimeError):
            features(torch.zeros(1, 3, ALEXNET_MIN_SIDE - 1, ALEXNET_MIN_SIDE - 1))


def test_scale_too_small_for_alexnet():
    with pytest.raises(ConfigError) as info:
        preset("ci", image_size=128, scales=3)
    message = str(info.value)
    assert "image_size" in message
    assert "--image-size 252" in message  # 63 px * 2**2: the fix
    assert "--scales" in message
    assert isinstance(info.value, AdnkitError)
    # The boundary: 126 / 2 = 63 px is fine, 124 / 2 = 62 px is not.
    assert preset("ci", image_size=126, scales=2).scale_sizes == [126, 63]
    with pytest.raises(ConfigError, match="image_size"):
        preset("ci", image_size=124, scales=2)


def test_unknown_attention():
    with pytest.raises(ConfigError, match="transformer") as info:
        preset("ci", attention="transformer")
    for name in ("se", "cbam"):
        assert name in str(info.value)
    for name in ("none", "se", "cbam", "eca", "coord"):
        assert preset("ci", attention=name).attention == name


def test_unknown_field():
    with pytest.raises(ConfigError, match="colour"):
        preset("ci", colour="red")
    with pytest.raises(ConfigError, match="colour"):
        Config.from_dict({"colour": "red"})


@pytest.mark.parametrize(
    "overrides",
    [
        dict(scales=0),
        dict(batch_size=0),
        dict(flow_blocks=0),
        dict(flow_hidden=0),
        dict(flow_hidden_layers=0),
        dict(test_transforms=0),
        dict(pretrained="coco"),
        dict(lr=0.0),
        dict(clamp=-1.0),
        dict(threshold_method="magic"),
        dict(threshold_quantile=1.0),
        dict(min_image_side=0),
        dict(feature_cache_views=-1),
        dict(attention_positions=(3,)),  # a convolution: neither a ReLU nor a max-pool output
        dict(attention_positions=(1, 13)),
        dict(attention_site="conv"),
        dict(embedding_norm="layer"),
        dict(embedding_norm="batch", batch_size=1, train_transforms=1),
        dict(se_reduction=0),
        dict(cbam_reduction=0),
        dict(coord_reduction=0),
        dict(cbam_kernel_size=8),
        dict(cbam_kernel_size=-7),
        dict(eca_kernel_size=4),
        dict(eca_kernel_size=-1),
    ],
)
def test_bad_values(overrides):
    with pytest.raises(ConfigError):
        preset("ci", **overrides)


def test_attention_options_follow_config():
    cfg = preset("ci", attention="cbam", cbam_kernel_size=7, cbam_residual=False, cbam_reduction=8)
    assert block_options(cfg) == dict(reduction=8, kernel_size=7, residual=False)
    assert block_options(preset("ci", attention="se", se_reduction=4)) == dict(reduction=4)
    assert block_options(preset("ci", attention="eca", eca_kernel_size=5)) == dict(kernel_size=5)
    assert block_options(preset("ci")) == {}


def test_parse_value_bool():
    for text in ("1", "true", "True", "yes", "on"):
        assert parse_value("amp", text) is True
    for text in ("0", "false", "FALSE", "no", "off"):
        assert parse_value("amp", text) is False
    with pytest.raises(ConfigError, match="--amp"):
        parse_value("amp", "maybe")


def test_parse_value_tuple():
    positions = parse_value("attention_positions", "1,4,11")
    assert positions == (1, 4, 11) and all(type(p) is int for p in positions)
    betas = parse_value("betas", "0.9,0.99")
    assert betas == (0.9, 0.99) and all(type(b) is float for b in betas)
    with pytest.raises(ConfigError, match="--attention-positions"):
        parse_value("attention_positions", "1,x")


def test_parse_value_scalars():
    assert parse_value("lr", "2e-4") == 2e-4 and type(parse_value("lr", "2e-4")) is float
    assert parse_value("image_size", "256") == 256 and type(parse_value("image_size", "256")) is int
    assert parse_value("attention", "se") == "se"
    with pytest.raises(ConfigError, match="--lr"):
        parse_value("lr", "fast")
    with pytest.raises(ConfigError, match="--image-size"):
        parse_value("image_size", "12.5")


def test_field_docstrings_reach_the_command_line_help():
    docs = field_docs()
    assert "AlexNet" in docs["attention_positions"] and "Rotations averaged" in docs["test_transforms"]
    assert set(docs) <= set(field_types())


# The settings of config.json before attention_options: a run folder written with them keeps loading.
EARLIER_SETTINGS = {
    "amp", "attention", "attention_lr_scale", "attention_positions", "attention_site", "batch_size", "betas",
    "bootstrap_resamples", "cbam_kernel_size", "cbam_reduction", "cbam_residual", "channels_last", "clamp",
    "compile_flow", "coord_reduction", "cpu_bf16_backbone", "data", "data_root", "device", "eca_kernel_size",
    "elpv_defect_threshold", "elpv_test_good_fraction", "embedding_norm", "eps", "feature_cache_views",
    "flow_blocks", "flow_hidden", "flow_hidden_layers", "flow_precision", "image_size", "lr", "max_train_images",
    "meta_epochs", "min_image_side", "num_workers", "optimizer_impl", "pretrained", "random_test_rotations",
    "scales", "se_reduction", "seed", "select", "skip_bad_images", "sub_epochs", "target_fpr", "test_transforms",
    "threshold_method", "threshold_quantile", "train_attention", "train_transforms", "val_fraction",
    "val_min_images", "weight_decay",
}


def test_config_json_is_one_flat_object_with_the_same_keys(tmp_path):
    saved = json.loads(preset("ci").to_json())
    later = {"attention_options", "checkpoint_minutes"}
    assert set(saved) == EARLIER_SETTINGS | later
    assert not any(isinstance(v, dict) for k, v in saved.items() if k != "attention_options")
    earlier = tmp_path / "config.json"  # as a run folder made before the later settings holds it
    earlier.write_text(json.dumps({k: v for k, v in saved.items() if k not in later}))
    assert Config.from_json(earlier) == preset("ci")


def test_every_setting_belongs_to_one_group():
    assert list(GROUPS) == ["data", "model", "training", "evaluation", "speed"]
    groups = [field_group(name) for name in field_types()]
    assert len(groups) == len(field_types()) == len(Config.__dataclass_fields__)
    assert (field_group("data_root"), field_group("attention_options"), field_group("lr"),
            field_group("threshold_method"), field_group("flow_precision")) == (
        "data", "model", "training", "evaluation", "speed")
    for name, cls in GROUPS.items():
        assert issubclass(Config, cls) and all(field_group(f) == name for f in cls.__dataclass_fields__)
    with pytest.raises(ConfigError, match="colour"):
        field_group("colour")


def test_each_group_checks_its_own_settings():
    cfg = preset("ci")
    for cls in GROUPS.values():
        cls.validate(cfg)  # a valid Config passes every group's checks
    cfg.lr = -1.0
    with pytest.raises(ConfigError, match="lr"):
        GROUPS["training"].validate(cfg)
    GROUPS["data"].validate(cfg)  # not data's business


def test_package_face():
    assert face.Config is Config and face.preset is preset and face.PRESETS is PRESETS
    assert adnkit.Config is Config and callable(adnkit.register_attention)


def test_attention_options_reach_the_block_after_its_settings(tmp_path):
    cfg = preset("ci", attention="se", se_reduction=4, attention_options={"reduction": 8})
    assert block_options(cfg) == dict(reduction=8)
    cfg = preset("ci", attention="cbam", attention_options={"kernel_size": 7})
    assert block_options(cfg) == dict(reduction=16, kernel_size=7, residual=True)
    cfg.to_json(tmp_path / "config.json")
    assert Config.from_json(tmp_path / "config.json").attention_options == {"kernel_size": 7}
    assert parse_value("attention_options", '{"reduction": 4}') == {"reduction": 4}
    with pytest.raises(ConfigError, match="--attention-options.*JSON object"):
        parse_value("attention_options", "[4]")


@pytest.mark.parametrize(
    "overrides, named",
    [
        (dict(attention="se", attention_options={"kernel_size": 3}), "kernel_size"),
        (dict(attention="cbam", attention_options={"kernel_size": 8}), "kernel_size"),
        (dict(attention="se", attention_options=[4]), "attention_options"),
        (dict(attention="se", attention_options={"reduction": {1, 2}}), "attention_options"),
        (dict(attention_options={"reduction": 4}), "attention='none'"),
    ],
)
def test_bad_attention_options_are_one_line(overrides, named):
    with pytest.raises(ConfigError, match=named) as info:
        preset("ci", **overrides)
    assert "\n" not in str(info.value)
