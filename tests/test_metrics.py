import math

import numpy as np
import pandas as pd
import pytest

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.auroc import auroc, roc_table
from adnkit.evaluation.summary import SUMMARY_COLUMNS, summarize
from adnkit.evaluation.threshold import choose_threshold, rates_at

# A hand example: 4 good, 3 defective.
LABELS = [0, 0, 0, 0, 1, 1, 1]
SCORES = [0.1, 0.2, 0.3, 0.65, 0.6, 0.7, 0.9]


# --- AUROC -------------------------------------------------------------------------------------------------
def test_auroc_perfect_and_reversed():
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0


def test_auroc_hand_computed():
    # Pairs (defective, good): 0.35 beats 0.1 but not 0.4; 0.8 beats both -> 3 of 4.
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # 12 pairs; 0.6 loses to 0.65 only -> 11/12.
    assert auroc(LABELS, SCORES) == pytest.approx(11 / 12)
    # A tie counts one half.
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1]])
def test_auroc_one_class_is_a_one_line_error(labels):
    with pytest.raises(AdnkitError) as err:
        auroc(labels, np.arange(len(labels), dtype=float))
    assert "\n" not in str(err.value) and "defective" in str(err.value)


def test_auroc_rejects_nan_and_length_mismatch():
    with pytest.raises(AdnkitError, match="NaN"):
        auroc([0, 1], [0.1, float("nan")])
    with pytest.raises(AdnkitError, match="length"):
        auroc([0, 1, 1], [0.1, 0.2])


def test_roc_table_runs_from_origin_to_one():
    table = roc_table(LABELS, SCORES)
    assert list(table.columns) == ["fpr", "tpr", "threshold"]
    assert (table["fpr"].iloc[0], table["tpr"].iloc[0]) == (0.0, 0.0)
    assert (table["fpr"].iloc[-1], table["tpr"].iloc[-1]) == (1.0, 1.0)
    area = np.sum(np.diff(table["fpr"]) * (table["tpr"].to_numpy()[1:] + table["tpr"].to_numpy()[:-1]) / 2)
    assert area == pytest.approx(11 / 12)


# --- thresholds ----------------------------------------------------------------------------------------------
def test_youden_on_hand_example():
    # J at 0.9: 1/3; 0.7: 2/3; 0.65: 2/3-1/4; 0.6: 1-1/4 = 0.75 (the max); 0.3: 1/2.
    # The threshold sits midway between 0.6 and the next lower score 0.3: the same decisions as at 0.6.
    chosen = choose_threshold("youden", test_labels=LABELS, test_scores=SCORES)
    threshold, text = chosen.value, chosen.text
    assert threshold == pytest.approx(0.45)
    assert list(rates_at(LABELS, SCORES, threshold).values()) == list(rates_at(LABELS, SCORES, 0.6).values())
    assert "test set" in text and "0.750" in text
    assert text.count(". ") == 0 and text.endswith(".")  # one sentence


def test_train_quantile():
    train = np.arange(101, dtype=float)  # 0..100: the 0.9 quantile is 90
    chosen = choose_threshold("train_quantile", test_labels=LABELS, test_scores=SCORES, train_scores=train,
                              quantile=0.9)
    threshold, text = chosen.value, chosen.text
    assert threshold == pytest.approx(90.0)
    assert "training" in text and "no defective" in text


def test_youden_falls_back_to_train_quantile_on_one_class():
    chosen = choose_threshold("youden", test_labels=[0, 0, 0], test_scores=[0.1, 0.2, 0.3],
                              train_scores=[1.0, 2.0, 3.0, 4.0, 5.0], quantile=0.5)
    threshold, text = chosen.value, chosen.text
    assert threshold == pytest.approx(3.0)
    assert "only one class" in text and "quantile" in text
    with pytest.raises(AdnkitError, match="train_scores"):
        choose_threshold("youden", test_labels=[0, 0], test_scores=[0.1, 0.2])


def test_threshold_method_is_checked():
    with pytest.raises(AdnkitError, match="youden"):
        choose_threshold("otsu", test_labels=LABELS, test_scores=SCORES)
    with pytest.raises(AdnkitError, match="train_scores"):
        choose_threshold("train_quantile", test_labels=LABELS, test_scores=SCORES)


def test_confusion_at_counts_score_equal_to_threshold_as_defective():
    c = rates_at(LABELS, SCORES, 0.6)
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (3, 1, 3, 0)
    assert c["tpr"] == 1.0 and c["fpr"] == pytest.approx(0.25) and c["accuracy"] == pytest.approx(6 / 7)
    nothing = rates_at([0, 0], [0.1, 0.2], 0.15)
    assert math.isnan(nothing["tpr"]) and nothing["fpr"] == 0.5


# --- summarize -----------------------------------------------------------------------------------------------
def _row(category, attention, seed, last, best, status="ok", dataset="mvtec"):
    return dict(dataset=dataset, category=category, attention=attention, seed=seed,
                auroc_last=last, auroc_best=best, status=status)


def test_summarize_two_seeds_hand_computed():
    results = pd.DataFrame([
        _row("bottle", "none", 0, 0.80, 0.85), _row("bottle", "none", 1, 0.90, 0.95),
        _row("bottle", "se", 0, 0.84, 0.90), _row("bottle", "se", 1, 0.98, 0.99),
        _row("bottle", "cbam", 0, None, None, status="failed"),
    ])
    s = summarize(results)
    assert list(s.columns) == SUMMARY_COLUMNS
    none = s[(s.category == "bottle") & (s.attention == "none")].iloc[0]
    se = s[(s.category == "bottle") & (s.attention == "se")].iloc[0]
    assert none.n_seeds == 2 and se.n_seeds == 2
    assert none.auroc_last_mean == pytest.approx(0.85)
    assert none.auroc_last_std == pytest.approx(math.sqrt(0.005))  # sample std of 0.80, 0.90
    assert se.auroc_best_mean == pytest.approx(0.945)
    # Gains per seed: last 0.04, 0.08 -> 0.06 +- sqrt(0.0008); best 0.05, 0.04 -> 0.045 +- sqrt(0.00005).
    assert se.gain_last_mean == pytest.approx(0.06) and se.gain_last_std == pytest.approx(math.sqrt(0.0008))
    assert se.gain_best_mean == pytest.approx(0.045) and se.gain_best_std == pytest.approx(math.sqrt(0.00005))
    assert se.n_paired == 2
    assert math.isnan(none.gain_best_mean)  # the baseline has no gain over itself
    assert "cbam" not in set(s.attention)  # failed runs are left out
    # One category: the mean row repeats it.
    mean_se = s[(s.category == "mean") & (s.attention == "se")].iloc[0]
    assert mean_se.auroc_best_mean == pytest.approx(0.945) and mean_se.gain_last_mean == pytest.approx(0.06)
    # Order: per dataset, categories then "mean"; "none" first within each.
    assert list(s.category) == ["bottle", "bottle", "mean", "mean"]
    assert list(s.attention) == ["none", "se", "none", "se"]


def test_summarize_gain_only_on_matching_seeds_and_mean_rows():
    results = pd.DataFrame([
        _row("a", "none", 0, 0.80, 0.80), _row("a", "none", 1, 0.90, 0.90),
        _row("a", "se", 0, 0.85, 0.85), _row("a", "se", 1, 0.99, 0.99), _row("a", "se", 2, 0.10, 0.10),
        _row("b", "none", 0, 0.70, 0.70), _row("b", "none", 1, 0.60, 0.60),
        _row("b", "se", 0, 0.75, 0.75), _row("b", "se", 1, 0.70, 0.70),
        _row("a", "cbam", 0, 0.50, 0.50),  # cbam never ran on b
    ])
    s = summarize(results).set_index(["category", "attention"])
    a_se = s.loc[("a", "se")]
    assert a_se.n_seeds == 3 and a_se.n_paired == 2
    assert a_se.gain_last_mean == pytest.approx(0.07)  # seeds 0, 1 only: 0.05 and 0.09; seed 2 has no partner
    # "mean" row of none: mean of the category means (0.85, 0.65); per-seed means 0.75, 0.75 -> std 0.
    m_none = s.loc[("mean", "none")]
    assert m_none.auroc_last_mean == pytest.approx(0.75) and m_none.auroc_last_std == pytest.approx(0.0)
    assert m_none.n_categories == 2 and m_none.n_seeds == 2
    # "mean" of se: mean of category means (0.98/3 + ..., i.e. (0.6467 + 0.725) / 2); spread over seeds 0, 1.
    m_se = s.loc[("mean", "se")]
    assert m_se.auroc_last_mean == pytest.approx(((0.85 + 0.99 + 0.10) / 3 + 0.725) / 2)
    assert m_se.auroc_last_std == pytest.approx(np.std([(0.85 + 0.75) / 2, (0.99 + 0.70) / 2], ddof=1))
    assert m_se.n_seeds == 2  # seed 2 did not run every category
    # gain of the mean row: mean of the category gains; spread of the per-seed mean gains.
    assert m_se.gain_last_mean == pytest.approx((0.07 + 0.075) / 2)
    assert m_se.gain_last_std == pytest.approx(np.std([(0.05 + 0.05) / 2, (0.09 + 0.10) / 2], ddof=1))
    # cbam ran one of two categories: its dataset mean would not compare, so it is NaN.
    m_cbam = s.loc[("mean", "cbam")]
    assert m_cbam.n_categories == 1 and math.isnan(m_cbam.auroc_last_mean)


def test_summarize_without_finished_runs_is_empty():
    assert summarize(pd.DataFrame()).empty
    failed = pd.DataFrame([_row("a", "none", 0, None, None, status="failed")])
    s = summarize(failed)
    assert s.empty and list(s.columns) == SUMMARY_COLUMNS
    with pytest.raises(AdnkitError, match="auroc_best"):
        summarize(pd.DataFrame([{"dataset": "x", "category": "y", "attention": "none", "seed": 0}]))


def test_summary_keeps_the_requested_order_of_datasets_and_variants():
    rows = [dict(dataset=d, category=c, attention=a, seed=0, auroc_last=0.8, auroc_best=0.9)
            for d, c in (("zeta", "b"), ("alpha", "a")) for a in ("none", "se", "cbam")]
    out = summarize(pd.DataFrame(rows))
    per_cat = out[out["category"] != "mean"]
    assert per_cat["dataset"].tolist() == ["zeta"] * 3 + ["alpha"] * 3
    assert per_cat["attention"].tolist()[:3] == ["none", "se", "cbam"]
