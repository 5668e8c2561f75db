"""The table of benchmarks/floor.py: a run's phases (its own timers) grouped, each group beside its floor.

A floor is the work a phase must do divided by what the device does at its best on that work (floor_peaks.py);
floor.py's docstring lists the assumptions, and each row carries its own in words.
"""

from __future__ import annotations

import math

from floor_peaks import ADAM_BYTES_PER_WEIGHT

# (row, the phases it sums, what its floor assumes)
GROUPS = (
    ("start-up and exit", ("startup", "exit"), "python -c 'import torch' (start, import, exit)"),
    ("setup", ("setup",), "no floor (0)"),
    ("data: list, check, decode", ("data", "train.decode", "eval.decode"), "every image decoded once"),
    ("model: build, weights", ("model", "resume"), "the flow's weights written once at memory bandwidth"),
    ("views: rotate, normalise", ("train.views", "eval.views"), "uint8 read + float32 written once per view"),
    ("backbone: training views", ("train.backbone",), "views x per-view conv time at the best batch"),
    ("flow forward (training)", ("train.forward",), "rows x FLOPs/row at the step's matmul peak"),
    ("flow backward (training)", ("train.backward",), "rows x FLOPs/row at the backward matmul peak"),
    ("Adam", ("train.optimizer",), f"{ADAM_BYTES_PER_WEIGHT} B/weight per step at memory bandwidth"),
    ("training loop, rest", ("train.batch", "train.other"), "no floor (0)"),
    ("backbone: test + validation views", ("eval.backbone",), "views once per run (frozen backbone)"),
    ("flow: scoring test + validation", ("eval.flow",), "one flow pass per view and evaluation"),
    ("evaluation, rest", ("eval.other",), "no floor (0)"),
    ("checkpoints", ("checkpoint",), "one write of the final state (fsync speed)"),
    ("final scoring, threshold", ("final",), "no floor (0)"),
    ("metrics (AUROC, bootstrap)", ("metrics",), "no floor (0)"),
    ("outputs: model.pt, scores, history", ("outputs",), "model.pt written once (fsync speed)"),
)


def counts(cfg, metrics: dict) -> dict:
    """How much work the run's settings ask for: views, rows, steps, evaluations, images."""
    n_train, n_eval = int(metrics["n_train"]), int(metrics["n_test"]) + int(metrics.get("n_val") or 0)
    meta, sub, t = cfg.meta_epochs, cfg.sub_epochs, cfg.train_transforms
    frozen = not (cfg.train_attention and cfg.attention != "none")
    cached = frozen and cfg.feature_cache_views > 0
    return dict(
        train_views=n_train * (cfg.feature_cache_views if cached else t * sub * meta),
        train_rows=n_train * t * sub * meta,
        steps=math.ceil(n_train / cfg.batch_size) * sub * meta,
        eval_views=n_eval * cfg.test_transforms * (1 if frozen else meta),
        eval_rows=n_eval * cfg.test_transforms * meta,
        evaluations=meta, images=n_train + n_eval, frozen_backbone=frozen,
    )


def floors(cfg, metrics: dict, peaks: dict) -> dict[str, float]:
    """Seconds of the floor of every row of GROUPS."""
    c = counts(cfg, metrics)
    flow, bw = peaks["flow"], peaks["memory"]["gbytes_per_s"] * 1e9
    disk = peaks["disk"]["gbytes_per_s_fsync"] * 1e9
    s_per_view = sum(peaks["backbone"][str(s)]["best_s_per_view"] for s in cfg.scale_sizes)
    weights_bytes = flow["parameters"] * 4
    view_bytes = cfg.image_size ** 2 * 3 * (1 + 4)
    return {
        "start-up and exit": peaks["python_import_torch_s"],
        "data: list, check, decode": c["images"] * peaks["decode"]["s_per_image"],
        "model: build, weights": weights_bytes / bw,
        "views: rotate, normalise": (c["train_views"] + c["eval_views"]) * view_bytes / bw,
        "backbone: training views": c["train_views"] * s_per_view,
        "flow forward (training)": c["train_rows"] * flow["gflop_per_row_forward"] / flow["gflops_forward_step"],
        "flow backward (training)": c["train_rows"] * flow["gflop_per_row_backward"] / flow["gflops_backward_step"],
        "Adam": c["steps"] * flow["parameters"] * ADAM_BYTES_PER_WEIGHT / bw,
        "backbone: test + validation views": c["eval_views"] * s_per_view,
        "flow: scoring test + validation": c["eval_rows"] * flow["gflop_per_row_forward"]
        / flow["gflops_forward_score"],
        "checkpoints": weights_bytes / disk,
        "outputs: model.pt, scores, history": weights_bytes / disk,
    }


def floor_rows(cfg, metrics: dict, peaks: dict, process: dict) -> list[dict]:
    """One row per group: measured wall and CPU seconds (the run's phases), floor, ratio, assumption."""
    wall, cpu = dict(metrics.get("phases") or {}), dict(metrics.get("phases_cpu") or {})
    wall["startup"] = cpu["startup"] = float(metrics.get("startup_seconds") or 0.0)
    if process:
        wall["exit"] = process["wall_s"] - wall["startup"] - sum(metrics.get("phases", {}).values())
    floor = floors(cfg, metrics, peaks)
    grouped = {p for _, phases, _ in GROUPS for p in phases}
    rest = tuple(p for p in wall if p not in grouped)
    rows = []
    for name, phases, assumption in (*GROUPS, ("other phases", rest, "no floor (0)")):
        seconds = sum(wall.get(p, 0.0) for p in phases)
        if not phases or (seconds == 0.0 and name not in floor):
            continue
        f = floor.get(name, 0.0)
        rows.append(dict(row=name, phases=list(phases), wall_s=round(seconds, 3),
                         cpu_s=round(sum(cpu.get(p, 0.0) for p in phases), 3), floor_s=round(f, 3),
                         ratio=round(seconds / f, 2) if f > 0 else None, floor_assumes=assumption))
    return rows


def summarize(rows: list[dict], process: dict, metrics: dict) -> dict:
    """Totals: the wall clock (measured from outside when the run was started here, else start-up + phases), the
    run's phases, the floor, their ratio, the checkpoints' share of the wall clock, on-CPU and waiting seconds."""
    startup, phases = float(metrics.get("startup_seconds") or 0.0), sum((metrics.get("phases") or {}).values())
    wall = process.get("wall_s", startup + phases)
    floor = sum(r["floor_s"] for r in rows)
    checkpoint = sum(r["wall_s"] for r in rows if r["row"] == "checkpoints")
    out = dict(wall_s=round(wall, 2), startup_s=round(startup, 2), phases_s=round(phases, 2),
               exit_s=round(wall - startup - phases, 2), floor_s=round(floor, 2),
               wall_over_floor=round(wall / floor, 3), checkpoint_share_of_wall=round(checkpoint / wall, 4))
    if process:
        on_cpu, waiting = process["sched_on_cpu_s"], process["sched_waiting_s"]
        out.update(on_cpu_s=round(on_cpu, 1), waiting_for_cpu_s=round(waiting, 1),
                   waiting_share=round(waiting / max(on_cpu + waiting, 1e-9), 3),
                   user_s=round(process["user_s"], 1), sys_s=round(process["sys_s"], 1),
                   minor_faults=process["minor_faults"])
    return out
