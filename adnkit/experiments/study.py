"""`adnkit study attention`: does attention help DifferNet here, in which reading of AttentDifferNet, and why?

The ablation is one benchmark (adnkit.experiments.bench.benchmark with a list grid), per dataset spec and seed:

    DifferNet                        attention none                                embedding_norm none
    DifferNet + guard                attention none                                embedding_norm batch
    for block in SE, CBAM and site in relu (features 1, 4, 11), pool (2, 5, 12):
      frozen                         train_attention false (blocks at their seeded init)  embedding_norm none
      trained                        train_attention true  (blocks trained with the flow) embedding_norm none
      trained + guard                train_attention true                                 embedding_norm batch

i.e. 14 runs per spec and seed. Every comparison is paired on the same spec and seed:
  frozen, trained       vs DifferNet            (what the blocks do, in each reading)
  trained + guard       vs DifferNet + guard    (the blocks under the same normaliser), and vs trained (the guard)
  DifferNet + guard     vs DifferNet            (what the normaliser costs a frozen model)

Besides AUROC, every run's feature spread (adnkit.model.probes.feature_spread of its final model over up
to `spread_images` training images, upright) is stored as spread.json in its run folder and related to the
DifferNet run of the same spec and seed: a trained block that collapses the features shows a spread far
below 1. Written: study.csv (one row per spec x variant), study.txt (the answer in sentences, from the
numbers) and a section "What attention does here" at the top of the bench's report.html.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from adnkit.config import Config
from adnkit.data import ImageDataset, load_split
from adnkit.detection.detector import Detector
from adnkit.evaluation.verdict import gain_sentence, gain_verdict
from adnkit.experiments.bench import benchmark
from adnkit.experiments.folder import BenchFolder
from adnkit.experiments.report import write_report
from adnkit.experiments.study_answer import answer, section_html
from adnkit.experiments.study_variants import DIFFERNET, baseline_of, study_variants, variant_label
from adnkit.model.probes import feature_spread
from adnkit.runs.folder import Run

STUDY_COLUMNS = [
    "dataset", "category", "variant", "attention", "site", "mode", "n_seeds",
    "auroc_last_mean", "auroc_last_std", "auroc_best_mean", "auroc_best_std",
    "baseline", "n_paired", "gain_last_mean", "gain_last_std", "gain_last_low", "gain_last_high",
    "verdict", "gain_best_mean", "gain_best_std", "spread_vs_differnet", "relative_spread_vs_differnet",
    "spread_vs_frozen", "near_constant_share",
]


def spread_of_run(run_dir: Path, max_images: int = 128) -> dict:
    """feature_spread of a finished run's final model over its first `max_images` training images (cached in
    the run folder: Run.write_spread)."""
    stored = Run(run_dir).read_spread()
    if stored is not None and stored.get("max_images") == max_images:
        return stored
    detector = Detector.load(run_dir)
    split = load_split(detector.cfg)
    spread = feature_spread(detector.model, ImageDataset(split.train, detector.cfg.image_size), max_images=max_images)
    spread["max_images"] = max_images
    Run(run_dir).write_spread(spread)
    return spread


# --- the table ---------------------------------------------------------------------------------------------------
def _truthy(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "yes", "on")


def runs_table(results: pd.DataFrame, spreads: dict[int, dict]) -> pd.DataFrame:
    """One row per finished run: dataset, category, seed, variant label, mode, AUROCs and spread measures,
    with each run's spread relative to the DifferNet run of the same spec and seed."""
    ok = results[results["status"].fillna("ok") == "ok"].copy()
    rows = []
    for idx, r in ok.iterrows():
        site = str(r.get("attention_site", "") or "")
        site = "" if site == "nan" else site
        label, mode = variant_label(str(r["attention"]), site, _truthy(r.get("train_attention")),
                                    str(r.get("embedding_norm", "none")))
        spread = spreads.get(idx, {})
        rows.append(dict(dataset=str(r["dataset"]), category=str(r["category"]), spec=str(r["spec"]),
                         seed=int(r["seed"]), variant=label, attention=str(r["attention"]), site=site, mode=mode,
                         auroc_last=float(r["auroc_last"]), auroc_best=float(r["auroc_best"]),
                         mean_std=spread.get("mean_std", np.nan), relative_spread=spread.get("relative_spread", np.nan),
                         near_constant_share=spread.get("near_constant_share", np.nan), run_dir=str(r["run_dir"])))
    runs = pd.DataFrame(rows)
    if runs.empty:
        return runs
    ref = runs[runs["variant"] == DIFFERNET].set_index(["spec", "seed"])
    key = list(zip(runs["spec"], runs["seed"], strict=True))
    runs["spread_vs_differnet"] = [_div(m, ref["mean_std"].get(k)) for m, k in zip(runs["mean_std"], key, strict=True)]
    runs["relative_spread_vs_differnet"] = [_div(m, ref["relative_spread"].get(k))
                                            for m, k in zip(runs["relative_spread"], key, strict=True)]
    # A trained block against the same block left at init (same spec, seed, attention, site): the blocks at init
    # already rescale the features (SE's gates near 0.5 shrink them, CBAM's residual grows them), so a
    # collapse is what training does on top of that.
    frozen = runs[runs["mode"] == "frozen"].set_index(["spec", "seed", "attention", "site"])["mean_std"]
    fkey = list(zip(runs["spec"], runs["seed"], runs["attention"], runs["site"], strict=True))
    runs["spread_vs_frozen"] = [_div(m, frozen.get(k)) if mode.startswith("trained") else np.nan
                                for m, k, mode in zip(runs["mean_std"], fkey, runs["mode"], strict=True)]
    return runs


def _div(a, b) -> float:
    try:
        a, b = float(a), float(b)
    except (TypeError, ValueError):
        return float("nan")
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else float("nan")


def study_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, category, variant): mean +- std over seeds of the AUROCs, the paired gain over its baseline
    (DifferNet, or DifferNet + guard for guarded variants; per seed, on seeds both ran) with its interval and
    verdict (adnkit.evaluation.verdict.gain_verdict: the seeds of the category are the units) and the mean spread
    measures."""
    if runs.empty:
        return pd.DataFrame(columns=STUDY_COLUMNS)
    order = {v: i for i, v in enumerate(dict.fromkeys(variant_label(v["attention"], v.get("attention_site", ""),
                                                                     v.get("train_attention", False),
                                                                     v["embedding_norm"])[0]
                                                       for v in study_variants()))}
    out = []
    for (dataset, category), cat in runs.groupby(["dataset", "category"], sort=False):
        for label, group in sorted(cat.groupby("variant", sort=False), key=lambda kv: order.get(kv[0], 99)):
            first = group.iloc[0]
            base_label = baseline_of(label, first["mode"])
            row = dict(dataset=dataset, category=category, variant=label, attention=first["attention"],
                       site=first["site"], mode=first["mode"], n_seeds=group["seed"].nunique(),
                       auroc_last_mean=group["auroc_last"].mean(), auroc_last_std=group["auroc_last"].std(),
                       auroc_best_mean=group["auroc_best"].mean(), auroc_best_std=group["auroc_best"].std(),
                       baseline="" if label == DIFFERNET else base_label,
                       spread_vs_differnet=group["spread_vs_differnet"].mean(),
                       relative_spread_vs_differnet=group["relative_spread_vs_differnet"].mean(),
                       spread_vs_frozen=group["spread_vs_frozen"].mean(),
                       near_constant_share=group["near_constant_share"].mean())
            if label != DIFFERNET:
                base = cat[cat["variant"] == base_label].groupby("seed")[["auroc_last", "auroc_best"]].mean()
                mine = group.groupby("seed")[["auroc_last", "auroc_best"]].mean()
                paired = mine.merge(base, left_index=True, right_index=True, suffixes=("", "_base"))
                d_last = (paired["auroc_last"] - paired["auroc_last_base"]).to_numpy()
                d_best = (paired["auroc_best"] - paired["auroc_best_base"]).to_numpy()
                verdict = gain_verdict(d_last)
                row.update(n_paired=len(paired), gain_last_mean=verdict["gain_mean"],
                           gain_last_std=d_last.std(ddof=1) if len(d_last) > 1 else np.nan,
                           gain_last_low=verdict["gain_ci_low"], gain_last_high=verdict["gain_ci_high"],
                           verdict=verdict["verdict"],
                           gain_best_mean=d_best.mean() if len(d_best) else np.nan,
                           gain_best_std=d_best.std(ddof=1) if len(d_best) > 1 else np.nan)
            else:
                row.update(n_paired=0)
            out.append(row)
    return pd.DataFrame(out).reindex(columns=STUDY_COLUMNS)


def across_categories(runs: pd.DataFrame) -> pd.DataFrame:
    """Per variant, its gain over its baseline pooled over every (dataset, category) of the study, each category
    one unit (adnkit.evaluation.verdict.gain_verdict): columns variant, baseline, n_pairs, n_units, gain_mean,
    gain_ci_low,
    gain_ci_high, verdict, sentence. Empty with a single category (study_table's rows say it all)."""
    columns = ["variant", "baseline", "n_pairs", "n_units", "gain_mean", "gain_ci_low", "gain_ci_high", "verdict",
               "sentence"]
    if runs.empty or runs[["dataset", "category"]].drop_duplicates().shape[0] < 2:
        return pd.DataFrame(columns=columns)
    cell = ["dataset", "category", "seed"]
    value = runs.groupby([*cell, "variant"], as_index=False)["auroc_last"].mean()
    rows = []
    for label in dict.fromkeys(runs["variant"]):
        if label == DIFFERNET:
            continue
        base_label = baseline_of(label, str(runs.loc[runs["variant"] == label, "mode"].iloc[0]))
        pairs = value[value["variant"] == label].merge(value[value["variant"] == base_label], on=cell,
                                                       suffixes=("", "_base"))
        stats = gain_verdict(pairs["auroc_last"] - pairs["auroc_last_base"], pairs["dataset"] + "/" + pairs["category"])
        rows.append(dict(variant=label, baseline=base_label, **{k: stats[k] for k in columns[2:-1]},
                         sentence=gain_sentence(label, base_label, "last", stats, dataset="every category")))
    return pd.DataFrame(rows, columns=columns)


# --- the command -------------------------------------------------------------------------------------------------
def attention_study(specs: Iterable[str], seeds: Iterable[int], base_cfg: Config, out_dir: str | Path,
              runner=None, progress: bool = True, spread_images: int = 128, preset_name: str = "",
              spread_fn: Callable[[Path], dict] | None = None, trained_seeds: Iterable[int] | None = None,
              executor=None) -> pd.DataFrame:
    """Run the ablation (module docstring) into out_dir and write study.csv, study.txt and report.html; return
    the study table. `runner` and `executor` as in benchmark; `spread_fn(run_dir)` replaces the feature-spread
    measurement. `trained_seeds`: the seeds of the trained variants, which cannot use the feature cache and
    cost far more (default: `seeds`; none: the study of the frozen blocks alone, to which a later call with
    trained seeds adds, reusing the finished runs); no `seeds` with trained ones runs the trained variants
    alone (e.g. on another machine, into a folder that is merged later); their gains are paired on the seeds
    both runs have."""
    out_dir = Path(out_dir)
    seeds = list(seeds)
    trained = seeds if trained_seeds is None else list(trained_seeds)  # [] = only the variants without training
    every = list(dict.fromkeys(seeds + trained))  # no seeds at all is benchmark's one-line error
    results = benchmark(list(specs), ["none"], every, base_cfg, out_dir, runner=runner, progress=progress,
                        executor=executor, grid=study_variants(),
                        seeds_for=lambda v: trained if _truthy(v.get("train_attention", False)) else seeds)
    measure = spread_fn or (lambda run_dir: spread_of_run(run_dir, spread_images))
    spreads = {}
    for idx, row in results[results["status"] == "ok"].iterrows():
        try:
            spreads[idx] = measure(out_dir / row["run_dir"])
        except Exception as exc:  # noqa: BLE001 - a missing spread leaves a gap, not a failed study
            if progress:
                print(f"spread of {row['run_dir']} not measured: {exc}")
    runs = runs_table(results, spreads)
    table = study_table(runs)
    paragraphs = answer(table, preset_name)
    pooled = across_categories(runs)
    if not pooled.empty:
        paragraphs.append("Across categories (each category one unit): " + " ".join(pooled["sentence"]))
    BenchFolder(out_dir).write_study(table, runs, "What attention does here\n\n" + "\n\n".join(paragraphs) + "\n")
    write_report(out_dir, extra_sections=[("study", "What attention does here", section_html(table, runs, paragraphs))])
    return table
