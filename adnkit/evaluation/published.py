"""The papers' published image-level AUROC numbers, for side-by-side tables and figures.

Only numbers the papers state are here, each row with its source (paper, arXiv id, where in it) and a note
saying what kind of number it is; docs/method.md lists them. AUROC is stored as a fraction in [0, 1] (the papers
print percentages). Dataset-level numbers sit under category "mean", the same name `adnkit.evaluation.summary.summarize`
gives its per-dataset mean rows, so the two tables join on (dataset, category).

Methods:
  differnet              DifferNet (no attention), as printed by the paper named in the row.
  attentdiffernet-se     AttentDifferNet with SE blocks, where the paper names SE as the best variant.
  attentdiffernet-best   the best AttentDifferNet variant per dataset, where the variant is not stated in the
                         sources adnkit was checked against (SE or CBAM: unknown).
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["paper", "method", "dataset", "category", "auroc", "source", "note"]
DATASETS = ("mvtec", "insplad", "wafer", "mtd", "elpv")

DIFFERNET_PAPER = "DifferNet"
ATTENT_PAPER = "AttentDifferNet"
INSPLAD_PAPER = "InsPLAD"
DIFFERNET_SOURCE = "Rudolph, Wandt, Rosenhahn, Same Same But DifferNet, WACV 2021"
ATTENT_SOURCE = ("Vieira e Silva et al., Attention Modules Improve Image-Level Anomaly Detection for "
                 "Industrial Inspection: A DifferNet Case Study, WACV 2024 (arXiv 2311.02747)")
ATTENT_MEANS_SOURCE = ("Vieira e Silva et al., Attention Modules Improve Modern Image-Level Anomaly Detection: "
                       "A DifferNet Case Study (arXiv 2401.08686), abstract")
INSPLAD_SOURCE = ("Vieira e Silva et al., InsPLAD: A Dataset and Benchmark for Power Line Asset Inspection in UAV "
                  "Images, Int. J. Remote Sensing 2023 (arXiv 2311.01619), anomaly detection benchmark")

# DifferNet, MVTec AD, image AUROC in percent, per category (DifferNet paper).
DIFFERNET_MVTEC = {
    "grid": 84.0, "leather": 97.1, "tile": 99.4, "carpet": 92.9, "wood": 99.8,
    "bottle": 99.0, "capsule": 86.9, "pill": 88.8, "transistor": 91.1, "zipper": 95.1,
    "cable": 95.9, "hazelnut": 99.3, "metal_nut": 96.1, "screw": 96.3, "toothbrush": 98.6,
}
_RECALLED = ("per category: recalled from the DifferNet paper's MVTec AD table, not re-read from it; their mean is "
             "94.69, the DifferNet mean the AttentDifferNet papers print (the DifferNet paper prints 94.9); "
             "confirm against the paper before publishing")

# Mean image AUROC in percent, dataset -> (DifferNet, best AttentDifferNet, method), as printed in the abstract of
# arXiv 2401.08686 ("94.34 vs. 92.46, 96.67 vs. 94.69, and 90.20 vs. 88.74"); the WACV 2024 version (arXiv
# 2311.02747) gives the InsPLAD-fault result (SE, 94.34: state of the art there) and the mean gain below.
ATTENT_MEANS = {
    "insplad": (92.46, 94.34, "attentdiffernet-se"),
    "mvtec": (94.69, 96.67, "attentdiffernet-best"),
    "wafer": (88.74, 90.20, "attentdiffernet-best"),
}
# The AttentDifferNet paper's mean gain over DifferNet across its datasets, in AUROC points (not a fraction).
ATTENT_MEAN_GAIN = {"mean": 1.77, "std": 0.25, "unit": "AUROC points", "source": ATTENT_SOURCE + ", abstract",
                    "note": "'1.77 +/- 0.25 percentage points' as printed. The three dataset gains (1.88, 1.98, "
                            "1.46) average 1.77, but their spread is 0.28 (sample sd) or 0.23 (population sd): the "
                            "+/- 0.25 is not derivable from them, and the paper does not say what it is"}
# The InsPLAD paper's own DifferNet baseline on InsPLAD-fault, beside the AttentDifferNet papers' 92.46.
INSPLAD_DIFFERNET = 90.5


def _rows() -> list[dict]:
    rows = [
        dict(paper=DIFFERNET_PAPER, method="differnet", dataset="mvtec", category=cat, auroc=value / 100,
             source=DIFFERNET_SOURCE, note=_RECALLED)
        for cat, value in DIFFERNET_MVTEC.items()
    ]
    rows.append(dict(paper=DIFFERNET_PAPER, method="differnet", dataset="mvtec", category="mean", auroc=0.949,
                     source=DIFFERNET_SOURCE + ", MVTec AD table",
                     note="mean as printed in the paper; the per-category values above average to 94.69"))
    rows.append(dict(paper=DIFFERNET_PAPER, method="differnet", dataset="mtd", category="mean", auroc=0.977,
                     source=DIFFERNET_SOURCE, note="Magnetic Tile Defects, whole dataset"))
    rows.append(dict(paper=INSPLAD_PAPER, method="differnet", dataset="insplad", category="mean",
                     auroc=INSPLAD_DIFFERNET / 100, source=INSPLAD_SOURCE,
                     note="the InsPLAD paper's own DifferNet run, a second baseline beside the AttentDifferNet "
                          "papers' 92.46; the value as reported to adnkit, not re-read from the paper's table"))
    names = {"insplad": "InsPLAD-fault", "mvtec": "MVTec AD", "wafer": "Semiconductor Wafer"}
    for dataset, (base, best, method) in ATTENT_MEANS.items():
        rows.append(dict(paper=ATTENT_PAPER, method="differnet", dataset=dataset, category="mean",
                         auroc=base / 100, source=ATTENT_MEANS_SOURCE,
                         note=f"{names[dataset]} mean; DifferNet as run or quoted by the AttentDifferNet papers"))
        variant = ("the paper names SE as the best variant" if method.endswith("-se")
                   else "best AttentDifferNet variant; which one (SE or CBAM) is not stated in our sources")
        rows.append(dict(paper=ATTENT_PAPER, method=method, dataset=dataset, category="mean",
                         auroc=best / 100, source=ATTENT_MEANS_SOURCE, note=f"{names[dataset]} mean; {variant}"))
    return rows


def published() -> pd.DataFrame:
    """Every published number adnkit knows, one row each (columns: paper, method, dataset, category, auroc,
    source, note). A fresh copy on every call."""
    return pd.DataFrame(_rows(), columns=COLUMNS)


def reference_for(dataset: str, category: str | None = None) -> pd.DataFrame:
    """The published numbers for one adnkit dataset name (mvtec, insplad, wafer, mtd, elpv, ...), optionally one
    category ("mean" = dataset-level numbers). Datasets without published numbers (elpv, folder, synthetic)
    give an empty frame with the same columns."""
    table = published()
    rows = table[table["dataset"] == str(dataset).lower()]
    if category is not None:
        rows = rows[rows["category"] == str(category)]
    return rows.reset_index(drop=True)
