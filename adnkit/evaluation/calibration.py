"""How often a verdict is wrong: simulated benchmarks with a known true gain, scored by a verdict method.

A simulated bench has K categories x S seeds. Each category has its own level (the kind of data: cancels in a
pair), the variant's gain on it differs from the true gain by a category effect (sd `category_sd`: attention
helps some kinds of data more than others), and every run adds seed noise (sd `seed_sd`). The runs are
AUROC values; the gains are variant minus baseline per (category, seed), as adnkit.evaluation.verdict pairs them:

    baseline[c, s] = level[c] + seed noise
    variant[c, s]  = level[c] + true_gain + effect[c] + seed noise

`calibration_table` runs `method(gains, categories) -> dict` (by default adnkit.evaluation.verdict.gain_verdict) on
`n_benches` such benches per design and counts how often it says "a gain" or "a loss" (a false positive when
the true gain is 0), how often its interval holds the true gain, and how often it gives no interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from adnkit.evaluation.verdict import gain_verdict

CALIBRATION_COLUMNS = ["categories", "seeds", "true_gain", "category_sd", "seed_sd", "benches", "with_interval",
                       "said_gain", "said_loss", "verdict_rate", "coverage", "mc_se"]
"""Columns of `calibration_table`. verdict_rate = share of benches that said a gain or a loss; coverage = share
of the benches with an interval whose interval held the true gain; mc_se = the Monte Carlo standard error of
a 5% rate at this many benches."""


def simulate_bench(categories: int, seeds: int, true_gain: float, rng: np.random.Generator, *,
                   category_sd: float = 1.0, seed_sd: float = 1.0, level_sd: float = 5.0) -> dict[str, np.ndarray]:
    """One simulated bench in AUROC points, one entry per (category, seed): arrays category, seed, baseline,
    variant and gain (variant - baseline)."""
    level = 85.0 + rng.normal(0.0, level_sd, categories)
    effect = rng.normal(0.0, category_sd, categories)
    cat = np.repeat(np.arange(categories), seeds)
    baseline = level[cat] + rng.normal(0.0, seed_sd, cat.size)
    variant = level[cat] + true_gain + effect[cat] + rng.normal(0.0, seed_sd, cat.size)
    return dict(category=cat, seed=np.tile(np.arange(seeds), categories), baseline=baseline, variant=variant,
                gain=variant - baseline)


def pair_noise_sd(category_sd: float = 1.0, seed_sd: float = 1.0) -> float:
    """The standard deviation of one pair's gain around the true gain: sqrt(category_sd^2 + 2 seed_sd^2)."""
    return float(np.sqrt(category_sd**2 + 2 * seed_sd**2))


def calibrate(method: Callable, categories: int, seeds: int, true_gain: float, *, n_benches: int = 1000,
              category_sd: float = 1.0, seed_sd: float = 1.0, seed: int = 0) -> dict:
    """The rates of `method` over `n_benches` simulated benches of one design (see the module docstring)."""
    rng = np.random.default_rng([seed, categories, seeds, int(round(1000 * true_gain)), int(1000 * category_sd)])
    gain = loss = with_interval = covered = 0
    for _ in range(n_benches):
        bench = simulate_bench(categories, seeds, true_gain, rng, category_sd=category_sd, seed_sd=seed_sd)
        answer = method(bench["gain"], bench["category"])
        gain += answer["verdict"] == "a gain"
        loss += answer["verdict"] == "a loss"
        if np.isfinite(answer["gain_ci_low"]):
            with_interval += 1
            covered += answer["gain_ci_low"] <= true_gain <= answer["gain_ci_high"]
    return dict(categories=categories, seeds=seeds, true_gain=true_gain, category_sd=category_sd, seed_sd=seed_sd,
                benches=n_benches, with_interval=with_interval / n_benches, said_gain=gain / n_benches,
                said_loss=loss / n_benches, verdict_rate=(gain + loss) / n_benches,
                coverage=covered / with_interval if with_interval else float("nan"),
                mc_se=float(np.sqrt(0.05 * 0.95 / n_benches)))


def calibration_table(method: Callable = gain_verdict, *, categories: Iterable[int] = (2, 3, 5, 10),
                      seeds: Iterable[int] = (1, 2, 3, 4, 5), true_gains: Iterable[float] = (0.0,),
                      category_sds: Iterable[float] = (1.0,), n_benches: int = 1000, seed_sd: float = 1.0,
                      seed: int = 0) -> pd.DataFrame:
    """`calibrate` for every design: categories x seeds x true gains x category effects (CALIBRATION_COLUMNS)."""
    rows = [calibrate(method, k, s, g, n_benches=n_benches, category_sd=c, seed_sd=seed_sd, seed=seed)
            for g in true_gains for c in category_sds for k in categories for s in seeds]
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)
