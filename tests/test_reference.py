import pytest

from adnkit.evaluation.published import ATTENT_MEAN_GAIN, COLUMNS, published, reference_for

MVTEC = {"bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut", "pill", "screw",
         "tile", "toothbrush", "transistor", "wood", "zipper"}


def test_table_shape_and_ranges():
    table = published()
    assert list(table.columns) == COLUMNS
    assert table["auroc"].between(0, 1).all()
    assert table["source"].str.len().gt(10).all() and table["paper"].notna().all()
    assert not table.duplicated(["paper", "method", "dataset", "category"]).any()


def test_differnet_mvtec_per_category_average_to_94_69():
    rows = reference_for("mvtec")
    per_cat = rows[(rows.paper == "DifferNet") & (rows.category != "mean")]
    assert set(per_cat.category) == MVTEC
    assert 100 * per_cat.auroc.mean() == pytest.approx(94.69, abs=0.01)
    assert per_cat.note.str.contains("recalled").all()
    printed = reference_for("mvtec", "mean")
    assert 100 * printed[printed.paper == "DifferNet"].auroc.item() == pytest.approx(94.9)
    assert reference_for("mvtec", "bottle").auroc.item() == pytest.approx(0.990)
    assert reference_for("mvtec", "grid").auroc.item() == pytest.approx(0.840)


def test_attentdiffernet_numbers_and_variant_labels():
    ins = reference_for("insplad", "mean")
    ins = ins[ins.paper == "AttentDifferNet"].set_index("method").auroc
    assert ins["differnet"] == pytest.approx(0.9246) and ins["attentdiffernet-se"] == pytest.approx(0.9434)
    for dataset, base, best in (("mvtec", 0.9469, 0.9667), ("wafer", 0.8874, 0.9020)):
        rows = reference_for(dataset, "mean")
        rows = rows[rows.paper == "AttentDifferNet"].set_index("method").auroc
        # The variant is not stated for these: it must not be claimed as SE or CBAM.
        assert set(rows.index) == {"differnet", "attentdiffernet-best"}
        assert rows["differnet"] == pytest.approx(base) and rows["attentdiffernet-best"] == pytest.approx(best)
    assert 100 * reference_for("mtd").auroc.item() == pytest.approx(97.7)


def test_published_gains_match_the_papers_mean_gain():
    att = published().query("paper == 'AttentDifferNet'")
    base = att[att.method == "differnet"].set_index("dataset").auroc
    best = att[att.method != "differnet"].set_index("dataset").auroc
    gains = 100 * (best - base)
    assert len(gains) == 3
    assert gains.mean() == pytest.approx(ATTENT_MEAN_GAIN["mean"], abs=0.01)


def test_datasets_without_numbers_give_empty_frames():
    for name in ("elpv", "synthetic", "folder"):
        empty = reference_for(name)
        assert empty.empty and list(empty.columns) == COLUMNS
    assert reference_for("mvtec", "no_such_category").empty
    assert len(reference_for("MVTEC")) == len(reference_for("mvtec")) > 0


def test_every_number_says_where_it_comes_from():
    table = published()
    means = table[(table.paper == "AttentDifferNet")]
    assert means["source"].str.contains("arXiv 2401.08686").all()  # the abstract that prints the three means
    assert "arXiv 2311.02747" in ATTENT_MEAN_GAIN["source"]  # the WACV 2024 paper's abstract: 1.77 +- 0.25
    assert "not derivable" in ATTENT_MEAN_GAIN["note"]
    gains = [94.34 - 92.46, 96.67 - 94.69, 90.20 - 88.74]
    assert pytest.approx(ATTENT_MEAN_GAIN["mean"], abs=0.005) == sum(gains) / 3
    # Two DifferNet baselines on InsPLAD-fault, each with its own paper.
    insplad = reference_for("insplad", "mean")
    differnet = insplad[insplad.method == "differnet"].set_index("paper").auroc
    assert differnet.to_dict() == pytest.approx({"AttentDifferNet": 0.9246, "InsPLAD": 0.905})
    assert "arXiv 2311.01619" in insplad.set_index("paper").loc["InsPLAD", "source"]
