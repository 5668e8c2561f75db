"""The attention study's design: the 14 variants of the ablation, their labels and which baseline each is
compared with (adnkit.experiments.study runs them)."""

from __future__ import annotations

BLOCKS = ("se", "cbam")
SITES = ("relu", "pool")
SITE_WORDS = {"relu": "after the ReLUs", "pool": "after the max-pools"}
BLOCK_NAMES = {"se": "SE", "cbam": "CBAM", "none": "DifferNet"}
MODES = ("frozen", "trained", "trained+guard")
DIFFERNET, DIFFERNET_GUARD = "DifferNet", "DifferNet+guard"
COLLAPSE_SPREAD = 0.5  # a trained block's spread below half of the same block's at init: the features shrank


def study_variants() -> list[dict]:
    """The 14 variants of the ablation, as benchmark grid dicts (adnkit.experiments.study lists them)."""
    out = [dict(attention="none", embedding_norm="none"), dict(attention="none", embedding_norm="batch")]
    for block in BLOCKS:
        for site in SITES:
            for trained, norm in ((False, "none"), (True, "none"), (True, "batch")):
                out.append(dict(attention=block, attention_site=site, train_attention=trained, embedding_norm=norm))
    return out


def variant_label(attention: str, site: str, trained: bool, norm: str) -> tuple[str, str]:
    """(label, mode) of one run: ('CBAM pool trained+guard', 'trained+guard'), ('DifferNet', '')."""
    if attention == "none":
        return (DIFFERNET_GUARD if norm == "batch" else DIFFERNET), ""
    mode = (
        ("trained+guard" if norm == "batch" else "trained")
        if trained
        else ("frozen+guard" if norm == "batch" else "frozen")
    )
    return f"{BLOCK_NAMES.get(attention, attention)} {site} {mode}", mode


def baseline_of(label: str, mode: str) -> str:
    """The variant a label is compared with: DifferNet + guard for guarded variants, else DifferNet."""
    return DIFFERNET if label in (DIFFERNET, DIFFERNET_GUARD) or not mode.endswith("guard") else DIFFERNET_GUARD
