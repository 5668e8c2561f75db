"""The papers' published image-level AUROC numbers, for side-by-side tables and figures.

Only numbers the papers state are here (docs/method.md says where each comes from). AUROC is stored as a
fraction in [0, 1] (the papers print percentages). Dataset-level numbers sit under category "mean", the same name
`adnkit.metrics.summarize` gives its per-dataset mean rows, so the two tables join on (dataset, category).

Methods:
  differnet              DifferNet (no attention).
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
DIFFERNET_SOURCE = "Rudolph, Wandt, Rosenhahn, Same Same But DifferNet, WACV 2021"
ATTENT_SOURCE = ("Vieira e Silva et al., Attention Modules Improve Image-Level Anomaly Detection for "
                 "Industrial Inspection: A DifferNet Case Study, WACV 2024")

# DifferNet, MVTec AD, image AUROC in percent, per category (DifferNet paper).
DIFFERNET_MVTEC = {
    "grid": 84.0, "leather": 97.1, "tile": 99.4, "carpet": 92.9, "wood": 99.8,
    "bottle": 99.0, "capsule": 86.9, "pill": 88.8, "transistor": 91.1, "zipper": 95.1,
    "cable": 95.9, "hazelnut": 99.3, "metal_nut": 96.1, "screw": 96.3, "toothbrush": 98.6,
}
_RECALLED = ("recalled from the paper and cross-checked by their mean (94.69, the value the AttentDifferNet "
             "paper quotes for DifferNet); confirm against the paper before publishing")

# AttentDifferNet paper, mean image AUROC in percent: dataset -> (DifferNet, best AttentDifferNet, method).
ATTENT_MEANS = {
    "insplad": (92.46, 94.34, "attentdiffernet-se"),
    "mvtec": (94.69, 96.67, "attentdiffernet-best"),
    "wafer": (88.74, 90.20, "attentdiffernet-best"),
}
# The AttentDifferNet paper's mean gain over DifferNet across its datasets, in AUROC points (not a fraction).
ATTENT_MEAN_GAIN = {"mean": 1.77, "std": 0.25, "unit": "AUROC points", "source": ATTENT_SOURCE,
                    "note": "mean +- spread of the best variant's gain over DifferNet across InsPLAD-fault, "
                            "MVTec AD and Semiconductor Wafer, as printed"}


def _rows() -> list[dict]:
    rows = [
        dict(paper=DIFFERNET_PAPER, method="differnet", dataset="mvtec", category=cat, auroc=value / 100,
             source=DIFFERNET_SOURCE, note=_RECALLED)
        for cat, value in DIFFERNET_MVTEC.items()
    ]
    rows.append(dict(paper=DIFFERNET_PAPER, method="differnet", dataset="mvtec", category="mean", auroc=0.949,
                     source=DIFFERNET_SOURCE,
                     note="mean as printed in the paper; its per-category values average to 94.69"))
    rows.append(dict(paper=DIFFERNET_PAPER, method="differnet", dataset="mtd", category="mean", auroc=0.977,
                     source=DIFFERNET_SOURCE, note="Magnetic Tile Defects, whole dataset"))
    names = {"insplad": "InsPLAD-fault", "mvtec": "MVTec AD", "wafer": "Semiconductor Wafer"}
    for dataset, (base, best, method) in ATTENT_MEANS.items():
        rows.append(dict(paper=ATTENT_PAPER, method="differnet", dataset=dataset, category="mean",
                         auroc=base / 100, source=ATTENT_SOURCE,
                         note=f"{names[dataset]} mean; DifferNet as run or quoted by the AttentDifferNet paper"))
        variant = ("the paper names SE as the best variant" if method.endswith("-se")
                   else "best AttentDifferNet variant; which one (SE or CBAM) is not stated in our sources")
        rows.append(dict(paper=ATTENT_PAPER, method=method, dataset=dataset, category="mean",
                         auroc=best / 100, source=ATTENT_SOURCE, note=f"{names[dataset]} mean; {variant}"))
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
