"""The attention study's answer in words and tables: sentences generated from study_table's numbers (study.txt),
the compact table the command prints, and the report section "What attention does here"."""

from __future__ import annotations

import html

import pandas as pd
import plotly.express as px

from adnkit.evaluation.verdict import MIN_UNITS
from adnkit.experiments.study_variants import (
    BLOCK_NAMES,
    BLOCKS,
    COLLAPSE_SPREAD,
    DIFFERNET,
    DIFFERNET_GUARD,
    MODES,
    SITE_WORDS,
    SITES,
)


# --- the answer in sentences -----------------------------------------------------------------------------------
def _pts(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{100 * x:+.1f} points"


def _share(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{100 * x:.0f}%"


def _gain_text(row) -> str:
    text = _pts(row["gain_last_mean"])
    if not pd.isna(row.get("gain_last_low")):
        text += (f" (95% interval {100 * row['gain_last_low']:+.1f} to {100 * row['gain_last_high']:+.1f}: "
                 f"{row['verdict']})")
    elif row.get("n_paired") == 1 and not pd.isna(row["gain_last_mean"]):
        text += " (one seed)"
    elif not pd.isna(row["gain_last_mean"]):
        text += f" ({int(row['n_paired'])} seeds: too few to tell)"
    return text


def answer(table: pd.DataFrame, preset_name: str = "") -> list[str]:
    """The study's answer as sentences generated from study_table's numbers, one paragraph per category."""
    paragraphs = []
    at = f"At the {preset_name} preset" if preset_name else "Here"
    for (dataset, category), cat in table.groupby(["dataset", "category"], sort=False):
        rows = {r["variant"]: r for _, r in cat.iterrows()}
        base = rows.get(DIFFERNET)
        if base is None:
            paragraphs.append(f"{dataset} {category}: DifferNet did not finish, so nothing is compared.")
            continue
        seeds = int(base["n_seeds"])
        trained_n = {int(r["n_seeds"]) for r in rows.values() if str(r["mode"]).startswith("trained")}
        seed_text = f"{seeds} seed{'s' if seeds != 1 else ''}"
        if trained_n and trained_n != {seeds}:
            n = max(trained_n)
            seed_text += f", the trained variants {n} seed{'s' if n != 1 else ''}"
        s = [f"{at} on {dataset} {category} ({seed_text}; AUROC of the final model), "
             f"DifferNet scored {100 * base['auroc_last_mean']:.1f}%."]
        guard = rows.get(DIFFERNET_GUARD)
        if guard is not None:
            s.append(f"The batch guard alone changed DifferNet by {_gain_text(guard)}.")
        for block in BLOCKS:
            for site in SITES:
                name = f"{BLOCK_NAMES[block]} {SITE_WORDS[site]}"
                frozen, trained, guarded = (rows.get(f"{BLOCK_NAMES[block]} {site} {m}") for m in MODES)
                bits = []
                if frozen is not None:
                    bits.append(f"left frozen it scored {_gain_text(frozen)} vs DifferNet (the blocks at init put "
                                f"the embedding's spread at {_share(frozen['spread_vs_differnet'])} of DifferNet's)")
                if trained is not None:
                    vs_frozen = trained["spread_vs_frozen"]
                    if not pd.isna(vs_frozen) and vs_frozen < COLLAPSE_SPREAD:
                        bits.append(
                            f"trained with the flow it collapsed: its embedding's spread fell to "
                            f"{_share(vs_frozen)} of the frozen block's ({_share(trained['spread_vs_differnet'])} "
                            f"of DifferNet's) and it scored {_pts(trained['gain_last_mean'])} vs DifferNet"
                        )
                    else:
                        bits.append(f"trained with the flow {_gain_text(trained)} vs DifferNet (spread "
                                    f"{_share(vs_frozen)} of the frozen block's: no collapse)")
                if guarded is not None:
                    text = (f"trained with the batch guard {_gain_text(guarded)} vs DifferNet with the guard "
                            f"(spread {_share(guarded['spread_vs_frozen'])} of the frozen block's)")
                    if trained is not None and not pd.isna(trained["auroc_last_mean"]):
                        text += (f", {_pts(guarded['auroc_last_mean'] - trained['auroc_last_mean'])} vs "
                                 "trained without it")
                    bits.append(text)
                if bits:
                    s.append(f"{name}: " + "; ".join(bits) + ".")
        variants = cat[cat["variant"] != DIFFERNET].dropna(subset=["gain_last_mean"])
        if not variants.empty:
            best = variants.loc[variants["gain_last_mean"].idxmax()]
            with_interval = int(variants["gain_last_low"].notna().sum())
            verdict = (f"The best variant here was {best['variant']} at {_gain_text(best)} over its baseline.")
            if with_interval:
                helped = int((variants["verdict"] == "a gain").sum())
                verdict += (f" {helped} of the {with_interval} variants with an interval beat their baseline "
                            "with a 95% interval above zero." if helped else
                            f" None of the {with_interval} variants with an interval beat its baseline with a 95% "
                            "interval above zero.")
                if with_interval < len(variants):
                    verdict += (f" {len(variants) - with_interval} ran on fewer than {MIN_UNITS} seeds (no "
                                "interval): their gains are too few to tell.")
            else:
                verdict += (f" With fewer than {MIN_UNITS} seeds there is no interval; run --seeds 3 before trusting "
                            "a difference.")
            s.append(verdict)
        paragraphs.append(" ".join(s))
    return paragraphs


# --- the report section ------------------------------------------------------------------------------------------
def section_html(table: pd.DataFrame, runs: pd.DataFrame, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    shown = table.copy()
    for col in ("auroc_last_mean", "auroc_last_std", "auroc_best_mean", "auroc_best_std", "gain_last_mean",
                "gain_last_std", "gain_last_low", "gain_last_high", "gain_best_mean", "gain_best_std"):
        shown[col] = (100 * shown[col]).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    for col in ("spread_vs_differnet", "relative_spread_vs_differnet", "spread_vs_frozen", "near_constant_share"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    body += ("<p class='muted'>AUROC and gains in points (%); gain = variant minus its baseline per seed, "
             "low/high = 95% t-interval over paired seeds; spread = the embedding's mean per-dimension std over "
             "training images relative to DifferNet's, or (spread_vs_frozen) for a trained block relative to the "
             "same block left at init (below 0.5 = collapsed); relative spread = std over mean size, unchanged "
             "by a plain rescaling.</p>")
    body += shown.drop(columns=["attention", "site", "mode"]).to_html(index=False, border=0)
    if not runs.empty and runs["spread_vs_differnet"].notna().any():
        fig = px.scatter(runs, x="spread_vs_differnet", y="auroc_last", color="variant", symbol="category",
                         hover_data=["seed", "relative_spread_vs_differnet", "near_constant_share", "auroc_best"],
                         title="Feature spread (relative to DifferNet) against the final AUROC, one point per run")
        fig.add_vline(x=COLLAPSE_SPREAD, line_dash="dot")
        body += fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    return body



def format_study(table: pd.DataFrame) -> str:
    """study.csv as a compact text table (AUROC last and gains in points, spread relative to DifferNet)."""
    if table.empty:
        return "No finished runs."
    shown = pd.DataFrame({
        "dataset": table["dataset"], "category": table["category"], "variant": table["variant"],
        "seeds": table["n_seeds"],
        "AUROC last (%)": [f"{100 * m:.2f}" + (f" +- {100 * s:.2f}" if not pd.isna(s) else "")
                           for m, s in zip(table["auroc_last_mean"], table["auroc_last_std"], strict=True)],
        "gain last (points)": [_pts(g).replace(" points", "") for g in table["gain_last_mean"]],
        "vs": table["baseline"],
        "spread vs DifferNet": [_share(v) for v in table["spread_vs_differnet"]],
        "spread vs frozen": ["" if pd.isna(v) else _share(v) for v in table["spread_vs_frozen"]],
    })
    return shown.to_string(index=False)
