"""ELPV from the elpv-dataset package: the published cell counts, the held-out share, no overlap, and a split
that is the same for every call and every seed."""

import sys

import pytest

from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data import load_split, open_split
from adnkit.data.elpv import elpv_dir, load_elpv

pytest.importorskip("elpv_dataset")


@pytest.mark.parametrize("kind, n_good, n_defective", [("mono", 588, 369), ("poly", 920, 452)])
def test_counts_and_held_out_share(kind, n_good, n_defective):
    split = load_elpv(kind)  # listing only; decoding is tested once below
    test_good = [s for s in split.test if s.label == 0]
    assert len(split.train) + len(test_good) == n_good
    assert len(test_good) == round(0.2 * n_good)
    assert sum(s.label for s in split.test) == n_defective
    assert not {s.path for s in split.train} & {s.path for s in split.test}
    assert all(s.path.is_file() for s in split.train[:5] + split.test[-5:])
    assert set(split.defects) == {"p=0.67", "p=1.00"}
    assert (split.name, split.dataset, split.category) == (f"elpv/{kind}", "elpv", kind)


def test_fraction_and_threshold_settings():
    split = load_elpv("mono", threshold=1.0, test_good_fraction=0.5)
    assert sum(s.label == 0 for s in split.test) == 294
    assert sum(s.label for s in split.test) == 313 and split.defects == ["p=1.00"]


def test_split_is_the_same_for_every_call_and_seed(tmp_path):
    a = open_split("elpv:mono")
    b = load_split(Config(data="elpv:mono", seed=7, data_root=str(tmp_path)))  # decodes every image once
    c = load_split(Config(data="elpv:mono", seed=123, data_root=str(tmp_path)))
    assert b.train == c.train and b.val == c.val and a.test == b.test == c.test
    # 470 good training cells: 47 (val_fraction 0.1) are held out for validation, 423 are trained on.
    assert (len(a.train), len(b.train), len(b.val)) == (470, 423, 47)
    assert {s.path for s in b.train} | {s.path for s in b.val} == {s.path for s in a.train}


def test_mono_and_poly_do_not_share_cells():
    mono, poly = open_split("elpv:mono"), open_split("elpv:poly")
    assert not {s.path for s in mono.train + mono.test} & {s.path for s in poly.train + poly.test}


def test_unknown_kind():
    with pytest.raises(DataError, match="use elpv:mono or elpv:poly"):
        open_split("elpv:thin-film")


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "elpv_dataset", None)  # makes `import elpv_dataset` fail
    with pytest.raises(DataError, match="pip install elpv-dataset"):
        elpv_dir()
