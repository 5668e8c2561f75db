"""Paired comparisons on results tables with known answers: constant gains, too few units, matching of
(dataset, category, seed), the 'all datasets' rows, extra variant columns, errors. The verdict's calibration is
tests/test_verdicts.py."""

import math

import pandas as pd
import pytest

from adnkit.core.errors import AdnkitError
from adnkit.evaluation.verdict import ALL_DATASETS, PAIRED_COLUMNS, gain_verdict, pair_table, paired_gains


def results(gains, dataset="mvtec", categories=("bottle", "cable"), variant="se", base=0.8, **extra):
    """A results table: baseline 'none' at `base`, the variant at base + gain, one gain per (category, seed)."""
    rows = []
    cells = [(c, s) for c in categories for s in range(len(gains) // len(categories))]
    for (category, seed), gain in zip(cells, gains, strict=True):
        for attention, value in (("none", base), (variant, base + gain)):
            rows.append(dict(dataset=dataset, category=category, attention=attention, seed=seed,
                             auroc_last=value, auroc_best=value + 0.01, status="ok", **extra))
    return pd.DataFrame(rows)


def test_constant_gain_known_answer():
    table = paired_gains(results([0.02] * 6, categories=("bottle", "cable", "grid")))
    row = table[(table.dataset == "mvtec") & (table.metric == "auroc_last")].iloc[0]
    assert row.n_pairs == 6 and row.n_units == 3 and row.unit == "category" and row.gain_mean == pytest.approx(0.02)
    assert row.gain_ci_low == pytest.approx(0.02) and row.gain_ci_high == pytest.approx(0.02)
    assert (row.wins, row.ties, row.losses) == (6, 0, 0)
    assert bool(row.distinguishable) and row.verdict == "a gain"
    assert row.sentence == ("se vs none on mvtec (last): +2.00 points, 95% interval +2.00 to +2.00 over 3 categories "
                            "(6 pairs), 6 wins / 0 losses: a gain.")
    assert list(table.columns) == PAIRED_COLUMNS[:2] + ["attention"] + PAIRED_COLUMNS[2:]
    assert table.metric.tolist() == ["auroc_last", "auroc_best"] * 2
    assert table.dataset.tolist() == ["mvtec", "mvtec", ALL_DATASETS, ALL_DATASETS]


def test_seeds_of_two_categories_are_too_few_to_tell():
    """Six same-sign pairs from two categories are two units: the mean gain, no interval, no verdict."""
    table = paired_gains(results([0.02, 0.03, 0.01, 0.02, 0.04, 0.03]))
    row = table[(table.dataset == "mvtec") & (table.metric == "auroc_last")].iloc[0]
    assert row.n_pairs == 6 and row.n_units == 2 and math.isnan(row.gain_ci_low) and not row.distinguishable
    assert row.verdict == "too few to tell"
    assert row.sentence == ("se vs none on mvtec (last): +2.50 points over 2 categories (6 pairs), 6 wins / 0 losses: "
                            "too few to tell (an interval needs 3 categories, or 3 seeds of one category).")


def test_not_distinguishable_and_few_pairs():
    mixed = paired_gains(results([0.02, -0.03, 0.01, -0.01, 0.02, -0.02], categories=("a", "b", "c")))
    row = mixed[(mixed.dataset == "mvtec") & (mixed.metric == "auroc_last")].iloc[0]
    assert row.gain_ci_low < 0 < row.gain_ci_high and not row.distinguishable
    assert row.sentence.endswith(": no difference shown.") and "3 wins / 3 losses" in row.sentence
    few = gain_verdict([0.02, 0.03])
    assert few["n_pairs"] == 2 and few["verdict"] == "too few to tell" and math.isnan(few["gain_ci_high"])
    one = paired_gains(results([0.05], categories=("bottle",)))
    assert one.sentence.iloc[0] == ("se vs none on mvtec (last): +5.00 points over 1 pair, 1 win / 0 losses: "
                                    "too few to tell (an interval needs 3 categories, or 3 seeds of one category).")
    assert math.isnan(one.gain_ci_low.iloc[0]) and not one.distinguishable.iloc[0]


def test_ties_are_counted_within_the_tolerance():
    s = gain_verdict([0.0, 1e-9, -1e-9, 0.01, 0.02, 0.03])
    assert (s["wins"], s["ties"], s["losses"]) == (3, 3, 0)
    assert gain_verdict([0.0] * 6)["verdict"] == "no difference shown"
    ties = paired_gains(results([0.0, 0.0, 0.01, 0.02, -0.01, 0.0]))
    assert "2 wins / 3 ties / 1 loss" in ties.sentence.iloc[0]


def test_only_matched_pairs_count_and_failed_runs_are_left_out():
    table = results([0.02] * 6)
    extra = pd.DataFrame([
        dict(dataset="mvtec", category="bottle", attention="se", seed=9, auroc_last=0.1, auroc_best=0.1, status="ok"),
        dict(dataset="mvtec", category="cable", attention="none", seed=0, auroc_last=0.0, auroc_best=0.0,
             status="failed"),
        dict(dataset="mvtec", category="bottle", attention="se", seed=0, auroc_last=0.84, auroc_best=0.85,
             status="ok"),  # a repeat of (bottle, se, 0): averaged with 0.82 -> gain 0.03
    ])
    pairs = pair_table(pd.concat([table, extra], ignore_index=True), metrics=["auroc_last"])
    assert len(pairs) == 6 and 9 not in set(pairs.seed)
    assert pairs.set_index(["category", "seed"]).loc[("bottle", 0), "gain"] == pytest.approx(0.03)


def test_all_datasets_row_pools_pairs_and_val_selected_is_used_when_present():
    a = results([0.02] * 6, dataset="mvtec")
    b = results([0.04] * 4, dataset="elpv", categories=("mono", "poly"))
    both = pd.concat([a, b], ignore_index=True)
    both["auroc_val_selected"] = both["auroc_last"] - 0.005
    table = paired_gains(both)
    assert list(dict.fromkeys(table.dataset)) == ["mvtec", "elpv", ALL_DATASETS]
    assert list(dict.fromkeys(table.metric_label)) == ["last", "best", "val-selected"]
    pooled = table[(table.dataset == ALL_DATASETS) & (table.metric == "auroc_val_selected")].iloc[0]
    # The units of the pooled row are the 4 (dataset, category) pairs, each the mean of its seeds.
    assert pooled.n_pairs == 10 and pooled.n_units == 4 and pooled.gain_mean == pytest.approx((2 * 0.02 + 2 * 0.04) / 4)
    assert "(val-selected)" in pooled.sentence and "over 4 categories (10 pairs)" in pooled.sentence


def test_extra_variant_columns_and_a_named_baseline():
    frozen = results([0.02] * 6, train_attention=False)
    trained = results([-0.01] * 6, train_attention=True)
    table = pd.concat([frozen, trained], ignore_index=True)
    out = paired_gains(table, by=["attention", "train_attention"], metrics=["auroc_last"])
    mvtec = out[out.dataset == "mvtec"].set_index("variant")
    assert set(mvtec.index) == {"se (train_attention=False)", "se (train_attention=True)"}
    assert mvtec.loc["se (train_attention=True)", "gain_mean"] == pytest.approx(-0.01)
    assert mvtec.loc["se (train_attention=True)", "losses"] == 6
    assert "train_attention" in out.columns
    # Against another baseline row set: SE frozen as the baseline for the trained SE.
    against = paired_gains(table, by=["attention", "train_attention"], metrics=["auroc_last"],
                           baseline={"attention": "se", "train_attention": False})
    row = against[(against.dataset == "mvtec") & (against.variant == "se (train_attention=True)")].iloc[0]
    assert row.gain_mean == pytest.approx(-0.03) and row.baseline == "se (train_attention=False)"


def test_errors_and_empty_input():
    with pytest.raises(AdnkitError, match=r"lacks column\(s\) \['seed'\]"):
        paired_gains(results([0.02] * 2).drop(columns="seed"))
    with pytest.raises(AdnkitError, match="auroc_val_selected"):
        paired_gains(results([0.02] * 2), metrics=["auroc_val_selected"])
    with pytest.raises(AdnkitError, match="not variant columns"):
        paired_gains(results([0.02] * 2), baseline={"site": "x"})
    empty = paired_gains(pd.DataFrame())
    assert empty.empty and "sentence" in empty.columns
    only_base = results([0.02] * 2)
    assert paired_gains(only_base[only_base.attention == "none"]).empty
