"""The one verdict (adnkit.evaluation.verdict.gain_verdict) is calibrated: simulated benches with a known true gain
(adnkit.evaluation.calibration) for 2, 3, 5 and 10 categories x 1-5 seeds.

Tolerance: each design runs N = 1000 benches, so a rate whose true value is 5% is measured with a Monte Carlo
standard error of sqrt(0.05 * 0.95 / 1000) = 0.69 points; a design fails at more than 5% + 3 standard errors
(7.07%) of false verdicts, or a coverage under 93%. The simulation is seeded: the same numbers every run.
The check has teeth: today's method before this one (a percentile bootstrap over the pairs) fails it."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from adnkit.evaluation.calibration import calibrate, calibration_table, pair_noise_sd
from adnkit.evaluation.verdict import MIN_UNITS, gain_verdict, paired_gains

N_BENCHES = 1000
RATE = 0.05
MC_SE = np.sqrt(RATE * (1 - RATE) / N_BENCHES)
MAX_RATE = RATE + 3 * MC_SE
MIN_COVERAGE = 0.93


def too_many_false_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """The designs whose verdict rate under zero gain, or whose coverage, is out of bounds."""
    bad_rate = table["verdict_rate"] > MAX_RATE
    bad_cover = table["coverage"].notna() & (table["coverage"] < MIN_COVERAGE)
    return table[bad_rate | bad_cover]


@pytest.fixture(scope="module")
def zero_gain():
    return calibration_table(gain_verdict, categories=(2, 3, 5, 10), seeds=(1, 2, 3, 4, 5), true_gains=(0.0,),
                             n_benches=N_BENCHES)


def test_no_more_false_verdicts_than_the_confidence_allows(zero_gain):
    assert len(zero_gain) == 20
    assert too_many_false_verdicts(zero_gain).empty, too_many_false_verdicts(zero_gain).to_string()
    with_interval = zero_gain[zero_gain["categories"] >= MIN_UNITS]
    pooled = with_interval["verdict_rate"].mean()  # 15 000 benches: standard error 0.18 points
    assert pooled <= RATE + 3 * np.sqrt(RATE * (1 - RATE) / (N_BENCHES * len(with_interval)))
    # Two categories are too few units: no interval, so never a verdict, whatever the seeds.
    two = zero_gain[zero_gain["categories"] == 2]
    assert (two["with_interval"] == 0).all() and (two["verdict_rate"] == 0).all()


def test_a_real_gain_of_two_noise_sds_is_found_with_ten_categories():
    gain = 2 * pair_noise_sd()
    for seeds in (1, 3, 5):
        row = calibrate(gain_verdict, 10, seeds, gain, n_benches=N_BENCHES)
        assert row["said_gain"] > 0.9 and row["said_loss"] == 0
        assert row["coverage"] >= MIN_COVERAGE


def bootstrap_over_pairs(gains, categories):
    """The method before this one: a percentile bootstrap of the mean over all pairs, clipped to their range."""
    g = np.asarray(gains, dtype=float)
    res = sps.bootstrap((g,), np.mean, n_resamples=1000, method="percentile", rng=np.random.default_rng(0))
    low = float(np.clip(res.confidence_interval.low, g.min(), g.max()))
    high = float(np.clip(res.confidence_interval.high, g.min(), g.max()))
    return dict(verdict="a gain" if low > 0 else "a loss" if high < 0 else "no difference shown",
                gain_ci_low=low, gain_ci_high=high)


def test_the_check_fails_the_bootstrap_over_pairs():
    table = calibration_table(bootstrap_over_pairs, categories=(2, 3), seeds=(1, 3), n_benches=200)
    assert len(too_many_false_verdicts(table)) == len(table)  # every design: two same-sign pairs read as real
    assert table.loc[(table.categories == 2) & (table.seeds == 1), "verdict_rate"].item() > 0.3


def test_the_issue_examples_give_no_verdict():
    assert gain_verdict([0.5, 0.1])["verdict"] == "too few to tell"
    assert np.isnan(gain_verdict([0.5, 0.1])["gain_ci_low"])
    three = gain_verdict([0.1, 0.2, 0.3])
    assert three["verdict"] == "no difference shown"
    assert three["gain_ci_low"] == pytest.approx(-0.0484, abs=1e-4) and three["gain_ci_high"] == pytest.approx(0.4484,
                                                                                                               abs=1e-4)


def test_categories_are_the_units_and_match_scipys_t_interval():
    gains = [0.01, 0.03, -0.02, 0.00, 0.05, 0.04, 0.02, 0.02]
    cats = ["a", "a", "b", "b", "c", "c", "d", "d"]
    out = gain_verdict(gains, cats)
    means = pd.Series(gains).groupby(cats).mean().to_numpy()
    ci = sps.ttest_1samp(means, 0.0).confidence_interval(0.95)
    assert out["unit"] == "category" and out["n_units"] == 4 and out["n_pairs"] == 8
    assert out["gain_mean"] == pytest.approx(means.mean())
    assert (out["gain_ci_low"], out["gain_ci_high"]) == pytest.approx((ci.low, ci.high))
    one = gain_verdict(gains[:4], None)  # one category: its seeds are the units
    ci = sps.ttest_1samp(gains[:4], 0.0).confidence_interval(0.95)
    assert one["unit"] == "seed" and (one["gain_ci_low"], one["gain_ci_high"]) == pytest.approx((ci.low, ci.high))


def test_paired_gains_gives_gain_verdicts_answer():
    """bench, the report and the study read paired_gains: it must be the same answer, per dataset and pooled."""
    rng = np.random.default_rng(3)
    rows = []
    for dataset, cats in (("mvtec", ["a", "b", "c", "d"]), ("elpv", ["mono"])):
        for category in cats:
            for seed in range(3):
                base = 0.8 + rng.normal(0, 0.01)
                rows += [dict(dataset=dataset, category=category, seed=seed, attention="none", auroc_last=base),
                         dict(dataset=dataset, category=category, seed=seed, attention="se",
                              auroc_last=base + rng.normal(0.01, 0.01))]
    results = pd.DataFrame(rows)
    table = paired_gains(results, metrics=["auroc_last"]).set_index("dataset")
    gains = results[results.attention == "se"].auroc_last.to_numpy() - results[
        results.attention == "none"].auroc_last.to_numpy()
    keys = results[results.attention == "se"]
    mvtec = (keys.dataset == "mvtec").to_numpy()
    for dataset, expected in (
            ("mvtec", gain_verdict(gains[mvtec], keys.category[mvtec])),
            ("elpv", gain_verdict(gains[~mvtec], keys.category[~mvtec])),
            ("all datasets", gain_verdict(gains, keys.dataset + "/" + keys.category))):
        row = table.loc[dataset]
        for key in ("n_units", "unit", "gain_mean", "gain_ci_low", "gain_ci_high", "verdict"):
            assert row[key] == pytest.approx(expected[key], nan_ok=True) if isinstance(expected[key], float) \
                else row[key] == expected[key]
    assert table.loc["elpv", "unit"] == "seed" and table.loc["mvtec", "unit"] == "category"
    assert table.loc["all datasets", "n_units"] == 5
