"""Synthetic sets: same NAME -> same bytes, different NAME -> different images; every defective image has a
non-empty mask of plausible size that covers the changed pixels; good images vary; the cache is reused."""

import hashlib
import zlib

import numpy as np
import pytest
from PIL import Image

from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data import load_split, make_synthetic
from adnkit.data.synthetic import (
    FINE_SET,
    SMALL_DEFECT_SCALE,
    SYNTHETIC_DEFECTS,
    defect_scale_for_name,
    kind_for_name,
    name_seed,
    options_for_name,
    synthetic_set,
)

SMALL = dict(n_train=4, n_test_good=2, n_test_defect=5, size=96)


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default `synthetic:demo` set, made once for this module (about two seconds)."""
    root = tmp_path_factory.mktemp("root")
    return root, load_split(Config(data="synthetic:demo", data_root=str(root)))


def test_default_set_layout_and_counts(demo):
    root, split = demo
    assert (split.name, split.dataset, split.category) == ("synthetic/demo", "synthetic", "demo")
    assert len(split.train) == 52 and len(split.val) == 8 and len(split.test) == 50  # of 60 good: 8 held out
    assert sum(s.label for s in split.test) == 30
    assert split.defects == sorted(SYNTHETIC_DEFECTS)
    with Image.open(split.train[0].path) as img:
        assert img.size == (256, 256) and img.mode == "RGB"


def test_every_defect_has_a_nonempty_mask_of_plausible_size(demo):
    _, split = demo
    for s in split.test:
        if s.label == 0:
            assert s.mask is None
            continue
        assert s.mask is not None and s.mask.name == f"{s.path.stem}_mask.png"
        assert s.mask.parent.name == s.defect and s.mask.parent.parent.name == "ground_truth"
        area = (np.asarray(Image.open(s.mask)) > 0).mean()
        assert 0.015 < area < 0.2, (s.path, area)


def test_defects_change_the_pixels_under_their_mask(tmp_path):
    out = make_synthetic(tmp_path / "s", **SMALL)
    good = np.stack([np.asarray(Image.open(p), dtype=float) for p in sorted((out / "train/good").glob("*.png"))])
    typical = good.mean(0)
    for defect in SYNTHETIC_DEFECTS:
        img = np.asarray(Image.open(out / "test" / defect / "000.png"), dtype=float)
        mask = np.asarray(Image.open(out / "ground_truth" / defect / "000_mask.png")) > 0
        inside = np.abs(img - typical)[mask].mean()
        outside = np.abs(img - typical)[~mask].mean()
        assert inside > outside + 20, (defect, inside, outside)


def test_good_images_vary_but_stay_alike(tmp_path):
    out = make_synthetic(tmp_path / "s", kind="object", **SMALL)
    a, b = (np.asarray(Image.open(out / "train/good" / f"00{i}.png"), dtype=float) for i in (0, 1))
    assert np.abs(a - b).mean() > 1  # jitter, lighting, noise
    assert abs(a.mean() - b.mean()) < 20  # but the same kind of image


def test_same_name_same_bytes_different_name_different_images(tmp_path):
    # synthetic:NAME takes its kind and seed from NAME alone; small options keep this test fast
    a = synthetic_set("tiny", tmp_path / "a", **SMALL)
    b = synthetic_set("tiny", tmp_path / "b", **SMALL)
    c = synthetic_set("tinier", tmp_path / "a", **SMALL)
    assert digests(a) == digests(b) and len(digests(a)) == 11 + 5  # images and masks
    assert not set(digests(a).values()) & set(digests(c).values())


def test_make_synthetic_is_deterministic_given_its_arguments(tmp_path):
    first = digests(make_synthetic(tmp_path / "a", seed=3, **SMALL))
    assert digests(make_synthetic(tmp_path / "b", seed=3, **SMALL)) == first
    assert digests(make_synthetic(tmp_path / "c", seed=4, **SMALL)) != first


def test_cached_set_is_not_regenerated(demo):
    root, split = demo
    first = split.train[0].path
    stamp = first.stat().st_mtime_ns
    again = load_split(Config(data="synthetic:demo", data_root=str(root)))
    assert again.train == split.train and first.stat().st_mtime_ns == stamp


def test_kind_follows_the_name_and_the_seed_is_stable():
    assert kind_for_name("my-Object-1") == "object" and kind_for_name("demo") == "texture"
    assert name_seed("demo") == zlib.crc32(b"demo")  # not hash(): that changes with every process
    assert name_seed("demo") != name_seed("demo2")


def test_a_small_name_draws_the_same_defects_smaller(tmp_path):
    """synthetic:NAME with "small" in NAME: every defect drawn at 0.3 x its usual size (for image_size sweeps)."""
    assert defect_scale_for_name("tiny-Small-defects") == SMALL_DEFECT_SCALE and defect_scale_for_name("demo") == 1

    def areas(folder):
        return {p.parent.name: (np.asarray(Image.open(p)) > 0).mean() for p in (folder / "ground_truth").rglob("*.png")}

    usual = areas(make_synthetic(tmp_path / "usual", n_train=1, n_test_good=1, n_test_defect=5))
    small = areas(make_synthetic(tmp_path / "small", n_train=1, n_test_good=1, n_test_defect=5, defect_scale=0.3))
    assert usual.keys() == small.keys() == set(SYNTHETIC_DEFECTS)
    for defect in SYNTHETIC_DEFECTS:
        assert 0 < small[defect] < 0.35 * usual[defect], defect
        assert small[defect] < 0.015
    with pytest.raises(DataError, match="defect_scale"):
        make_synthetic(tmp_path / "x", defect_scale=2)


def test_a_fine_name_draws_faint_pinpoint_defects_on_large_images(tmp_path):
    """synthetic:NAME with "fine" in NAME: the hard set for image_size sweeps: 512 px images whose defects cover
    under 0.2 % of the image and are blended at half opacity (only the pixels under the mask change)."""
    assert options_for_name("my-Fine-set") == {"kind": "texture", "seed": name_seed("my-Fine-set"), **FINE_SET}
    assert "size" not in options_for_name("small-defects")
    few = {**FINE_SET, "n_train": 1, "n_test_good": 1, "n_test_defect": 5}
    faint = make_synthetic(tmp_path / "faint", **few)
    opaque = make_synthetic(tmp_path / "opaque", **{**few, "defect_opacity": 1.0})
    masks = sorted((faint / "ground_truth").rglob("*.png"))
    assert len(masks) == 5
    for mask_path in masks:
        mask = np.asarray(Image.open(mask_path)) > 0
        image = mask_path.relative_to(faint / "ground_truth").as_posix().replace("_mask", "")
        a, b = (np.asarray(Image.open(root / "test" / image), dtype=float) for root in (faint, opaque))
        assert a.shape == (512, 512, 3) and 0 < mask.mean() < 0.002, image
        assert np.array_equal(a[~mask], b[~mask]) and np.abs(a[mask] - b[mask]).mean() > 5, image
    with pytest.raises(DataError, match="defect_opacity"):
        make_synthetic(tmp_path / "x", defect_opacity=0)


def test_bad_names_and_arguments(tmp_path):
    for bad in ("../escape", "a/b", ".hidden", "x\\y"):
        with pytest.raises(DataError, match="a name may hold only"):
            load_split(Config(data=f"synthetic:{bad}", data_root=str(tmp_path)))
    assert synthetic_set("my toy 2", tmp_path, **SMALL).name == "my toy 2"  # any label that makes a folder name
    with pytest.raises(DataError, match="unknown"):
        make_synthetic(tmp_path / "x", defects=("dent",))
    with pytest.raises(DataError, match="--kind texture or --kind object"):
        make_synthetic(tmp_path / "x", kind="liquid")
    (tmp_path / "synthetic" / "half").mkdir(parents=True)
    with pytest.raises(DataError, match="not a complete synthetic set; delete it"):
        load_split(Config(data="synthetic:half", data_root=str(tmp_path)))
