"""MVTec-layout folders through `load_split`: the layout mistakes a person makes each give a one-line DataError
naming the folder; bad images stop the load or are skipped with one counted warning; spec strings parse."""

import warnings

import numpy as np
import pytest
from PIL import Image

from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data import DataWarning, load_split, parse_spec


def png(path, size=(48, 48), value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value // 2, 255 - value)).save(path)
    return path


def make_category(root, n_train=4, n_good=2, defects=("scratch",), n_defect=2, masks=True):
    for i in range(n_train):
        png(root / "train" / "good" / f"{i:03d}.png", value=10 * i)
    for i in range(n_good):
        png(root / "test" / "good" / f"{i:03d}.png", value=100 + i)
    for d in defects:
        for i in range(n_defect):
            png(root / "test" / d / f"{i:03d}.png", value=200 + i)
            if masks:
                png(root / "ground_truth" / d / f"{i:03d}_mask.png", value=255)
    return root


def cfg(spec, tmp_path, **kw):
    """Config for layout tests on a few images: no validation split unless asked (test_data_validation.py)."""
    kw.setdefault("val_fraction", 0.0)
    return Config(data=str(spec), data_root=str(tmp_path / "data_root"), **kw)


def test_loads_mvtec_layout_with_labels_and_masks(tmp_path):
    root = make_category(tmp_path / "part", defects=("crack", "scratch"))
    split = load_split(cfg(root, tmp_path))
    assert (split.name, split.dataset, split.category) == ("folder/part", "folder", "part")
    assert len(split.train) == 4 and all(s.label == 0 and s.defect == "good" for s in split.train)
    assert [s.label for s in split.test] == [0, 0, 1, 1, 1, 1]
    assert split.defects == ["crack", "scratch"]
    bad = [s for s in split.test if s.label]
    assert all(s.mask is not None and s.mask.name == s.path.stem + "_mask.png" for s in bad)
    assert all(s.mask is None for s in split.test if s.label == 0)
    assert split.counts()["images"].tolist() == [4, 2, 2, 2]


def test_folder_prefix_is_the_same_as_a_bare_path(tmp_path):
    root = make_category(tmp_path / "part")
    a, b = load_split(cfg(root, tmp_path)), load_split(cfg(f"folder:{root}", tmp_path))
    assert a.train == b.train and a.test == b.test


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: folder not found; pass a category folder"):
        load_split(cfg(tmp_path / "nowhere", tmp_path))


def test_no_train_folder(tmp_path):
    png(tmp_path / "part" / "test" / "good" / "a.png")
    with pytest.raises(DataError, match=r"part: no train/ folder"):
        load_split(cfg(tmp_path / "part", tmp_path))


def test_empty_train(tmp_path):
    root = make_category(tmp_path / "part", n_train=0)
    (root / "train" / "good").mkdir(parents=True)
    (root / "train" / "good" / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match=r"train/good: no images found .*put the defect-free training images"):
        load_split(cfg(root, tmp_path))


def test_no_test_good(tmp_path):
    root = make_category(tmp_path / "part", n_good=0)
    with pytest.raises(DataError, match=r"test/good: no good test images found"):
        load_split(cfg(root, tmp_path))


def test_no_defective_test_images_only_warns(tmp_path):
    root = make_category(tmp_path / "part", defects=())
    with pytest.warns(DataWarning, match="no defective images, so the AUROC is undefined"):
        split = load_split(cfg(root, tmp_path))
    assert len(split.test) == 2


def test_non_image_files_are_ignored_silently(tmp_path):
    root = make_category(tmp_path / "part")
    for name in ("notes.txt", ".DS_Store", "Thumbs.db", "._000.png", "labels.csv"):
        (root / "train" / "good" / name).write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = load_split(cfg(root, tmp_path))
    assert len(split.train) == 4


def test_bad_image_stops_the_load_naming_the_file(tmp_path):
    root = make_category(tmp_path / "part")
    (root / "train" / "good" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    with pytest.raises(DataError, match=r"broken\.png: cannot decode image.*--skip-bad-images"):
        load_split(cfg(root, tmp_path))


def test_skip_bad_images_warns_once_with_the_count(tmp_path):
    root = make_category(tmp_path / "part")
    (root / "train" / "good" / "a_broken.png").write_bytes(b"nope")
    png(root / "train" / "good" / "b_tiny.png", size=(8, 8))
    (root / "test" / "scratch" / "c_cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.warns(DataWarning) as record:
        split = load_split(cfg(root, tmp_path, skip_bad_images=True))
    messages = [str(w.message) for w in record if "skipped" in str(w.message)]
    assert len(messages) == 1
    assert "skipped 3 bad image(s) of 11" in messages[0] and "a_broken.png" in messages[0]
    assert len(split.train) == 4 and len(split.test) == 4
    assert sorted(p.name for p in split.ignored) == ["a_broken.png", "b_tiny.png", "c_cut.jpg"]


def test_too_small_images_follow_min_image_side(tmp_path):
    root = make_category(tmp_path / "part")
    png(root / "train" / "good" / "small.png", size=(40, 30))
    with pytest.raises(DataError, match=r"small\.png: image is 40x30 px.*min_image_side=32"):
        load_split(cfg(root, tmp_path))
    assert len(load_split(cfg(root, tmp_path, min_image_side=16)).train) == 5


def test_every_training_image_bad_is_an_error_even_when_skipping(tmp_path):
    root = make_category(tmp_path / "part", n_train=0)
    (root / "train" / "good").mkdir(parents=True)
    (root / "train" / "good" / "x.png").write_bytes(b"nope")
    with pytest.warns(DataWarning), pytest.raises(DataError, match="no usable training images"):
        load_split(cfg(root, tmp_path, skip_bad_images=True))


def test_max_train_images_is_a_deterministic_subset(tmp_path):
    root = make_category(tmp_path / "part", n_train=20)
    a = load_split(cfg(root, tmp_path, max_train_images=5, seed=1))
    b = load_split(cfg(root, tmp_path, max_train_images=5, seed=1))
    c = load_split(cfg(root, tmp_path, max_train_images=5, seed=2))
    assert len(a.train) == 5 and a.train == b.train and a.train != c.train
    assert [s.path for s in a.train] == sorted(s.path for s in a.train)
    assert len(a.test) == 4  # the test set is never subset


def test_loose_folder_names(tmp_path):
    root = tmp_path / "part"
    png(root / "Train" / "Normal" / "a.png")
    png(root / "TEST" / "good" / "b.png")
    png(root / "TEST" / "Bird Nest" / "c.png")
    split = load_split(cfg(root, tmp_path))
    assert len(split.train) == 1 and split.defects == ["Bird Nest"]


def test_wafer_prefix_reads_a_folder(tmp_path):
    root = make_category(tmp_path / "wafers")
    split = load_split(cfg(f"wafer:{root}", tmp_path))
    assert (split.name, split.dataset) == ("wafer/wafers", "wafer")


@pytest.mark.parametrize("spec, expected", [
    ("data/x", ("folder", "data/x")),
    ("folder:data/x", ("folder", "data/x")),
    ("mvtec:data/mvtec/bottle", ("mvtec", "data/mvtec/bottle")),
    ("MVTEC:r/c", ("mvtec", "r/c")),
    ("elpv:mono", ("elpv", "mono")),
    ("synthetic:demo", ("synthetic", "demo")),
    ("wm811k:LSWMD.pkl", ("wm811k", "LSWMD.pkl")),
    ("C:\\data\\x", ("folder", "C:\\data\\x")),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


def test_unknown_prefix_and_empty_argument(tmp_path):
    with pytest.raises(DataError, match=r"unknown prefix 'mvtech:'.*mvtec:"):
        load_split(cfg("mvtech:data/bottle", tmp_path))
    with pytest.raises(DataError, match=r"names no data; e\.g\. --data synthetic:demo"):
        parse_spec("synthetic:")


def test_mvtec_prefix_and_its_errors(tmp_path):
    make_category(tmp_path / "mv" / "bottle")
    split = load_split(cfg(f"mvtec:{tmp_path / 'mv' / 'bottle'}", tmp_path))
    assert (split.name, split.dataset, split.category) == ("mvtec/bottle", "mvtec", "bottle")
    make_category(tmp_path / "data_root" / "mvtec" / "mvtec_anomaly_detection" / "grid")
    assert load_split(cfg("mvtec:grid", tmp_path)).name == "mvtec/grid"  # <data_root>/mvtec, nested archive folder
    with pytest.raises(DataError, match=r"cable: MVTec AD category not found.*adnkit data download mvtec"):
        load_split(cfg(f"mvtec:{tmp_path / 'mv' / 'cable'}", tmp_path))
    with pytest.raises(DataError, match=r"'bottel' is not an MVTec AD category"):
        load_split(cfg(f"mvtec:{tmp_path / 'mv' / 'bottel'}", tmp_path))


def test_images_are_checked_once_per_file_version(tmp_path):
    root = make_category(tmp_path / "part")
    load_split(cfg(root, tmp_path))
    victim = root / "train" / "good" / "000.png"
    victim.write_bytes(victim.read_bytes()[:40])  # changed on disk: must be re-checked, not taken from the cache
    with pytest.raises(DataError, match="000.png"):
        load_split(cfg(root, tmp_path))


def test_split_repr_is_short(tmp_path):
    root = make_category(tmp_path / "part", n_train=30)
    text = repr(load_split(cfg(root, tmp_path)))
    assert len(text) < 200 and "train=30" in text


def test_grey_16_bit_and_palette_images_pass_validation(tmp_path):
    root = make_category(tmp_path / "part")
    Image.fromarray(np.full((40, 40), 4000, dtype=np.uint16)).save(root / "train" / "good" / "deep.png")
    Image.new("P", (40, 40)).save(root / "train" / "good" / "pal.png")
    Image.new("LA", (40, 40)).save(root / "train" / "good" / "la.png")
    assert len(load_split(cfg(root, tmp_path)).train) == 7
