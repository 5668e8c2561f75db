"""WM-811K wafer maps: a small LSWMD-like DataFrame pickled here is converted once into MVTec layout, with
the pickle warning, nearest-neighbour enlargement, distinct grey levels and a deterministic split."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data import DataWarning, load_split, wafer

# every conversion warns that a pickle can run code; the first test checks it, the rest need not show it
pytestmark = pytest.mark.filterwarnings("ignore:.*pickle can run arbitrary code")


def lswmd_like(n_normal=30):
    rng = np.random.default_rng(0)
    maps, labels = [], []
    for i in range(n_normal + 6):
        h, w = (26, 30) if i % 2 else (45, 40)
        grid = np.zeros((h, w), dtype=np.uint8)
        grid[2:-2, 2:-2] = 1
        grid[rng.integers(2, h - 2), rng.integers(2, w - 2)] = 2
        maps.append(grid)
    labels += [np.array([["none"]])] * n_normal
    labels += [np.array([["Edge-Ring"]]), np.array([["Edge-Ring"]]), np.array([["Center"]]),
               np.array([["Near-full"]]), np.array([], dtype=object), np.array([[""]])]  # last two: unlabelled
    return pd.DataFrame({"waferMap": maps, "dieSize": 1000.0, "lotName": "lot1",
                         "trianTestLabel": [np.array([["Training"]])] * len(maps), "failureType": labels})


@pytest.fixture
def pkl(tmp_path):
    path = tmp_path / "LSWMD.pkl"
    lswmd_like().to_pickle(path)
    return path


def test_conversion_layout_labels_and_warning(tmp_path, pkl, monkeypatch):
    monkeypatch.setattr(wafer, "_warned_pickle", False)
    with pytest.warns(DataWarning, match="pickle can run arbitrary code"):
        split = load_split(Config(data=f"wm811k:{pkl}", data_root=str(tmp_path / "root"), batch_size=4))
    assert (split.name, split.dataset, split.category) == ("wm811k/LSWMD", "wm811k", "LSWMD")
    out = tmp_path / "root" / "wm811k" / "LSWMD"
    assert all(s.path.is_relative_to(out) for s in split.train + split.test)
    good_test = [s for s in split.test if s.label == 0]
    assert len(split.train) + len(split.val) + len(good_test) == 30 and 0 < len(good_test) < 15
    assert len(split.val) == 8 and not {s.path for s in split.train} & {s.path for s in split.val}
    assert split.defects == ["Center", "Edge-Ring", "Near-full"]
    assert sum(s.label for s in split.test) == 4  # the two unlabelled maps are skipped
    assert not {s.path for s in split.train} & {s.path for s in split.test}


def test_maps_become_enlarged_grey_images(tmp_path):
    grid = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    img = wafer.map_to_image(grid, min_side=64)
    assert img.mode == "L" and img.size == (96, 64)  # factor 32 on both axes
    pixels = np.asarray(img)
    np.testing.assert_array_equal(pixels[::32, ::32], [[0, 128, 255], [255, 128, 0]])
    assert set(np.unique(pixels)) == {0, 128, 255}  # nearest: no blended levels
    with pytest.raises(ValueError):
        wafer.map_to_image(np.array([[0, 3]]))


def test_second_call_uses_the_cache_and_the_split_is_deterministic(tmp_path, pkl, monkeypatch):
    first = load_split(Config(data=f"wm811k:{pkl}", data_root=str(tmp_path / "a"), val_fraction=0))
    stamp = first.train[0].path.stat().st_mtime_ns

    def no_unpickling(path):
        raise AssertionError("converted again")

    monkeypatch.setattr(wafer, "_read_pickle", no_unpickling)
    again = load_split(Config(data=f"wm811k:{pkl}", data_root=str(tmp_path / "a"), val_fraction=0))
    assert again.train == first.train and first.train[0].path.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    other = load_split(Config(data=f"wm811k:{pkl}", data_root=str(tmp_path / "b"), val_fraction=0))
    names = lambda s: [(x.path.parent.name, x.path.name) for x in s.train + s.test]  # noqa: E731
    assert names(other) == names(first)
    with Image.open(first.train[0].path) as img:
        assert min(img.size) >= 64


def test_changed_pickle_is_converted_again(tmp_path, pkl):
    load_split(Config(data=f"wm811k:{pkl}", data_root=str(tmp_path / "r"), val_fraction=0))
    lswmd_like(n_normal=40).to_pickle(pkl)
    split = load_split(Config(data=f"wm811k:{pkl}", data_root=str(tmp_path / "r"), val_fraction=0))
    assert len(split.train) + sum(1 for s in split.test if s.label == 0) == 40


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="LSWMD.pkl: WM-811K pickle not found"):
        load_split(Config(data=f"wm811k:{tmp_path / 'LSWMD.pkl'}", data_root=str(tmp_path)))
    pd.DataFrame({"a": [1]}).to_pickle(tmp_path / "other.pkl")
    with pytest.raises(DataError, match="not a WM-811K table"):
        load_split(Config(data=f"wm811k:{tmp_path / 'other.pkl'}", data_root=str(tmp_path)))
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="cannot read the pickle"):
        load_split(Config(data=f"wm811k:{tmp_path / 'junk.pkl'}", data_root=str(tmp_path)))
