"""How often adnkit's verdict ("is variant A better than baseline B?") is wrong, on simulated benchmarks with a
known true gain (adnkit.evaluation.calibration): the false-verdict rate under zero gain and the interval's coverage for
2, 3, 5 and 10 categories x 1-5 seeds and several sizes of category effect, the rate at which a real gain of two
noise standard deviations is found, and the same for the method used before (a percentile bootstrap over the
pairs), for contrast. Prints one JSON document (and writes it with --out).

    python benchmarks/verdict_calibration.py --out benchmarks/results/verdict-calibration.json
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from jsonout import emit, require
from scipy import stats as sps

from adnkit.evaluation.calibration import calibration_table, pair_noise_sd
from adnkit.evaluation.verdict import MIN_UNITS, gain_verdict


def bootstrap_over_pairs(gains, categories):
    """The method before this one: a percentile bootstrap of the mean over all pairs, clipped to their range."""
    g = np.asarray(gains, dtype=float)
    res = sps.bootstrap((g,), np.mean, n_resamples=1000, method="percentile", rng=np.random.default_rng(0))
    low = float(np.clip(res.confidence_interval.low, g.min(), g.max()))
    high = float(np.clip(res.confidence_interval.high, g.min(), g.max()))
    return dict(verdict="a gain" if low > 0 else "a loss" if high < 0 else "no difference shown",
                gain_ci_low=low, gain_ci_high=high)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benches", type=int, default=1000, help="simulated benches per design")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    require(args.benches >= 100, f"--benches {args.benches} is too few to measure a 5% rate")
    zero = calibration_table(gain_verdict, true_gains=(0.0,), category_sds=(0.0, 1.0, 3.0), n_benches=args.benches)
    real = calibration_table(gain_verdict, categories=(3, 5, 10), true_gains=(2 * pair_noise_sd(),),
                             n_benches=args.benches)
    before = calibration_table(bootstrap_over_pairs, categories=(2, 3, 5), seeds=(1, 3), true_gains=(0.0,),
                               n_benches=min(args.benches, 300))
    with_interval = zero[zero["categories"] >= MIN_UNITS]
    doc = dict(
        benchmark="verdict_calibration",
        method="adnkit.evaluation.verdict.gain_verdict: t-interval over category means "
               f"(over seeds with one category), no interval below {MIN_UNITS} units",
        model="gain[c, s] = true_gain + effect[c] + seed noise of two runs; effect ~ N(0, category_sd), "
              "seed noise ~ N(0, seed_sd) per run, seed_sd = 1 (AUROC points)",
        benches_per_design=args.benches, monte_carlo_se_of_5_percent=float(np.sqrt(0.05 * 0.95 / args.benches)),
        zero_gain=dict(max_verdict_rate=float(zero["verdict_rate"].max()),
                       mean_verdict_rate_with_interval=float(with_interval["verdict_rate"].mean()),
                       min_coverage=float(zero["coverage"].min()), mean_coverage=float(zero["coverage"].mean()),
                       designs=zero.to_dict(orient="records")),
        real_gain=dict(true_gain=2 * pair_noise_sd(), note="two standard deviations of one pair's gain",
                       designs=real.to_dict(orient="records")),
        bootstrap_over_pairs=dict(max_verdict_rate=float(before["verdict_rate"].max()),
                                  designs=before.to_dict(orient="records")),
    )
    emit(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
