"""The validation split: the same images for every seed and machine (pinned), disjoint from training, chosen
before max_train_images, its size rule, val_fraction 0 turning it off, and the one-line errors."""

import pytest
from PIL import Image

from adnkit.config.settings import Config
from adnkit.core.errors import ConfigError, DataError
from adnkit.data import load_split
from adnkit.data.validation import validation_order, validation_size

# CRC-32 order of the names 000.png .. 019.png: what every machine must hold out first (zlib.crc32 is fixed).
PINNED_VAL = ["004.png", "005.png", "006.png", "007.png", "011.png", "012.png", "013.png", "018.png"]


def make_part(root, n_train=20, n_good=2, n_bad=2):
    for folder, n in (("train/good", n_train), ("test/good", n_good), ("test/crack", n_bad)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (40, 40), (10 * i % 256, 80, 120)).save(root / folder / f"{i:03d}.png")
    return root


def cfg(root, **kw):
    return Config(data=str(root), data_root=str(root.parent / "data_root"), **{"batch_size": 4, **kw})


def names(samples):
    return [s.path.name for s in samples]


def test_pinned_split_is_the_same_for_every_seed_and_disjoint(tmp_path):
    root = make_part(tmp_path / "part")
    splits = [load_split(cfg(root, seed=seed)) for seed in (0, 1, 7)]
    for split in splits:
        assert names(split.val) == PINNED_VAL  # 20 images: round(0.1 * 20) = 2, raised to val_min_images 8
        assert names(split.train) == sorted(f"{i:03d}.png" for i in range(20) if f"{i:03d}.png" not in PINNED_VAL)
        assert all(s.label == 0 and s.defect == "good" for s in split.val)
        assert not {s.path for s in split.val} & {s.path for s in split.train + split.test}
    assert splits[0].counts().query("split == 'val'")["images"].tolist() == [8]
    assert "val=8" in repr(splits[0])


def test_order_depends_on_the_relative_names_only(tmp_path):
    a = [tmp_path / "a" / "train" / "good" / f"{i:03d}.png" for i in range(20)]
    b = [tmp_path / "elsewhere" / "deeper" / "good" / f"{i:03d}.png" for i in range(20)]
    assert validation_order(a) == validation_order(b)
    assert sorted(a[i].name for i in validation_order(a)[:8]) == PINNED_VAL
    # Images directly in train/ beside train/good/ keep distinct keys ("good/000.png" vs "000.png").
    mixed = [tmp_path / "t" / "good" / "000.png", tmp_path / "t" / "000.png"]
    assert sorted(validation_order(mixed)) == [0, 1]


def test_validation_is_chosen_before_max_train_images(tmp_path):
    root = make_part(tmp_path / "part")
    few = [load_split(cfg(root, max_train_images=5, seed=seed)) for seed in (0, 1)]
    for split in few:
        assert names(split.val) == PINNED_VAL and len(split.train) == 5
        assert not set(names(split.train)) & set(PINNED_VAL)
    assert names(few[0].train) != names(few[1].train)  # the subset still follows the seed


def test_val_fraction_zero_turns_it_off(tmp_path):
    root = make_part(tmp_path / "part")
    split = load_split(cfg(root, val_fraction=0))
    assert split.val == [] and len(split.train) == 20
    assert "val" not in set(split.counts()["split"])


@pytest.mark.parametrize("n, fraction, min_images, batch, want", [
    (470, 0.1, 8, 24, 47),  # ELPV mono: the fraction
    (60, 0.1, 8, 24, 8),    # synthetic:demo: raised to the minimum
    (30, 0.1, 8, 24, 6),    # the minimum would leave fewer than a batch: raised only to n - batch
    (10, 0.1, 8, 1, 5),     # the minimum never takes more than half
    (3, 0.1, 8, 1, 1),      # at least one image
    (200, 0.5, 8, 24, 100),
    (200, 0.1, 0, 24, 20),
    (100, 0.0, 8, 24, 0),
])
def test_size_rule(n, fraction, min_images, batch, want):
    assert validation_size(n, fraction, min_images, batch) == want


def test_too_small_for_a_split_and_a_batch_is_one_line(tmp_path):
    root = make_part(tmp_path / "part", n_train=20)
    with pytest.raises(DataError) as err:
        load_split(cfg(root, batch_size=24))
    text = str(err.value)
    assert "\n" not in text and text.startswith("folder/part:") and "--val-fraction 0" in text
    assert "leaves 18, fewer than batch_size=24" in text
    assert len(load_split(cfg(root, batch_size=24, val_fraction=0)).train) == 20  # the fix works


def test_bad_validation_image_is_checked_and_skipped(tmp_path):
    root = make_part(tmp_path / "part")
    (root / "train" / "good" / "012.png").write_bytes(b"not a png")  # 012.png is in the validation split
    with pytest.raises(DataError, match="012.png: cannot decode"):
        load_split(cfg(root))
    with pytest.warns(UserWarning, match="skipped 1 bad image"):
        split = load_split(cfg(root, skip_bad_images=True))
    assert names(split.val) == [n for n in PINNED_VAL if n != "012.png"]


@pytest.mark.parametrize("overrides, text", [
    (dict(val_fraction=0.6), "val_fraction=0.6: must lie in [0, 0.5]; use --val-fraction"),
    (dict(val_fraction=-0.1), "val_fraction=-0.1: must lie in [0, 0.5]"),
    (dict(val_min_images=-1), "val_min_images=-1"),
    (dict(target_fpr=0.0), "target_fpr=0.0: must lie in (0, 1); use --target-fpr 0.01"),
    (dict(target_fpr=1.5), "target_fpr=1.5: must lie in (0, 1)"),
    (dict(threshold_method="otsu"), "use --threshold-method val_fpr, youden or train_quantile"),
])
def test_config_errors_name_the_setting_and_fix(overrides, text):
    with pytest.raises(ConfigError) as err:
        Config(**overrides)
    assert text in str(err.value) and "\n" not in str(err.value)


def test_config_defaults():
    c = Config()
    assert (c.val_fraction, c.val_min_images, c.target_fpr, c.threshold_method) == (0.1, 8, 0.01, "val_fpr")
    for method in ("val_fpr", "youden", "train_quantile"):
        assert Config(threshold_method=method).threshold_method == method
    assert Config(val_fraction=0).val_fraction == 0 and Config(val_fraction=0.5).val_fraction == 0.5
