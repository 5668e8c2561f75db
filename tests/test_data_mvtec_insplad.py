"""MVTec AD and InsPLAD-fault tables and checks: the published totals, verify on tiny fake trees, and the
loose matching of InsPLAD asset and label names."""

import pandas as pd
import pytest
from PIL import Image

from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data import INSPLAD_ASSETS, MVTEC_CATEGORIES, load_split, verify_insplad, verify_mvtec
from adnkit.data import mvtec as mvtec_module
from adnkit.data.mvtec import MVTEC_DEFECTS


def png(path, size=(40, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 90)).save(path)


def test_mvtec_table_matches_the_published_totals():
    assert len(MVTEC_CATEGORIES) == 15 and set(MVTEC_DEFECTS) == set(MVTEC_CATEGORIES)
    totals = [sum(counts[i] for counts in MVTEC_CATEGORIES.values()) for i in range(3)]
    assert totals == [3629, 467, 1258]
    assert sum(len(d) for d in MVTEC_DEFECTS.values()) == 73  # MVTec AD's 73 defect types


def test_insplad_table_matches_the_published_counts():
    assert INSPLAD_ASSETS["vari-grip"] == (477, 114, {"bird-nest": 63, "rust": 48})
    assert sum(a[0] for a in INSPLAD_ASSETS.values()) == 2298 + 462 + 935 + 477 + 4834


def fake_bottle(root, *, mask_for_contamination=True):
    cat = root / "bottle"
    for i in range(3):
        png(cat / "train" / "good" / f"{i:03d}.png")
    for i in range(2):
        png(cat / "test" / "good" / f"{i:03d}.png")
    png(cat / "test" / "broken_large" / "000.png")
    png(cat / "ground_truth" / "broken_large" / "000_mask.png")
    png(cat / "test" / "contamination" / "000.png")
    if mask_for_contamination:
        png(cat / "ground_truth" / "contamination" / "000_mask.png")
    (cat / "test" / "good" / "notes.txt").write_text("not counted")
    return cat


def test_verify_mvtec_reports_counts_missing_folders_and_masks(tmp_path):
    fake_bottle(tmp_path, mask_for_contamination=False)
    png(tmp_path / "bottle" / "test" / "dent" / "000.png")  # not an MVTec bottle defect
    table = verify_mvtec(tmp_path, ["bottle", "cable"])
    assert isinstance(table, pd.DataFrame) and list(table["category"]) == ["bottle", "cable"]
    bottle, cable = table.iloc[0], table.iloc[1]
    assert (bottle["train"], bottle["test_good"], bottle["test_defective"]) == (3, 2, 3)
    assert (bottle["train_expected"], bottle["test_good_expected"], bottle["test_defective_expected"]) == (209, 20, 63)
    assert bottle["missing"] == "test/broken_small" and bottle["extra"] == "dent"
    assert bottle["masks_missing"] == 2  # contamination/000 and dent/000
    assert not bottle["ok"] and not cable["ok"] and cable["missing"] == "cable/"


def test_verify_mvtec_ok_when_counts_match(tmp_path, monkeypatch):
    fake_bottle(tmp_path)
    png(tmp_path / "bottle" / "test" / "broken_small" / "000.png")
    png(tmp_path / "bottle" / "ground_truth" / "broken_small" / "000_mask.png")
    monkeypatch.setitem(mvtec_module.MVTEC_CATEGORIES, "bottle", (3, 2, 3))
    table = verify_mvtec(tmp_path, ["bottle"])
    assert table["ok"].tolist() == [True]


def test_verify_mvtec_rejects_unknown_categories(tmp_path):
    with pytest.raises(DataError, match="'bottel' is not an MVTec AD category"):
        verify_mvtec(tmp_path, ["bottel"])


def fake_insplad(base, asset_dir="vari-grip", good="good", defects=("bird-nest", "rust")):
    folder = base / asset_dir
    png(folder / "train" / good / "a.jpg")
    png(folder / "train" / good / "b.jpg")
    png(folder / "test" / good / "c.jpg")
    for d in defects:
        png(folder / "test" / d / f"{d}.jpg")
    return folder


@pytest.mark.parametrize("asset_dir, good, spelled", [
    ("vari-grip", "good", "vari-grip"),
    ("Vari Grip", "normal", "vari_grip"),
    ("vari_grip", "Good", "VARI-GRIP"),
    ("varigrip", "Normal", "vari grip"),
])
def test_insplad_name_variants(tmp_path, asset_dir, good, spelled):
    fake_insplad(tmp_path / "insplad" / "unsupervised_anomaly_detection", asset_dir, good)
    split = load_split(Config(data=f"insplad:{tmp_path / 'insplad'}/{spelled}", data_root=str(tmp_path),
                              val_fraction=0))
    assert (split.name, split.dataset, split.category) == ("insplad/vari-grip", "insplad", "vari-grip")
    assert len(split.train) == 2 and [s.label for s in split.test] == [0, 1, 1]
    assert split.defects == ["bird-nest", "rust"]


def test_insplad_root_may_be_the_unsupervised_folder_or_nested(tmp_path):
    fake_insplad(tmp_path / "a")  # ROOT is the folder holding the assets
    fake_insplad(tmp_path / "b" / "Unsupervised-Anomaly-Detection" / "unsupervised_anomaly_detection")
    for root in ("a", "b"):
        split = load_split(Config(data=f"insplad:{tmp_path / root}/vari-grip", data_root=str(tmp_path),
                                  val_fraction=0))
        assert len(split.test) == 3
    fake_insplad(tmp_path / "insplad", "yoke-suspension", defects=("rust",))
    assert load_split(Config(data="insplad:yoke suspension", data_root=str(tmp_path), val_fraction=0)).name == \
        "insplad/yoke-suspension"  # insplad:ASSET looks under <data_root>/insplad


def test_insplad_unknown_asset_lists_what_is_there(tmp_path):
    fake_insplad(tmp_path / "uad")
    with pytest.raises(DataError, match=r"no InsPLAD-fault asset 'glass-insulator'; found \['vari-grip'\]"):
        load_split(Config(data=f"insplad:{tmp_path / 'uad'}/glass-insulator", data_root=str(tmp_path),
                          val_fraction=0))
    with pytest.raises(DataError, match="InsPLAD-fault folder not found"):
        load_split(Config(data=f"insplad:{tmp_path / 'nothing'}/vari-grip", data_root=str(tmp_path),
                          val_fraction=0))


def test_verify_insplad(tmp_path):
    fake_insplad(tmp_path / "unsupervised_anomaly_detection", "Vari Grip", "normal")
    table = verify_insplad(tmp_path, ["vari-grip", "glass insulator"])
    vari, glass = table.iloc[0], table.iloc[1]
    assert (vari["asset"], vari["folder"], vari["train"], vari["test_good"], vari["test_defective"]) == \
        ("vari-grip", "Vari Grip", 2, 1, 2)
    assert vari["test_defective_expected"] == 111 and vari["defects"] == "bird-nest 1, rust 1"
    assert not vari["ok"] and glass["missing"] == "asset folder, train/good, test/good"
    with pytest.raises(DataError, match="not an InsPLAD-fault asset"):
        verify_insplad(tmp_path, ["pylon"])
