"""Run folders written through adnkit.runs.folder, as train writes them, for tests that need finished runs
without training (bench, report). Because they go through `Run`, a change of the folder's format that the
fakes do not follow fails here rather than passing silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from adnkit.config.settings import Config
from adnkit.data import spec_names
from adnkit.runs.folder import HistoryRow, Metrics, Run


def write_run(cfg: Config, run_dir: Path, labels, scores, aurocs, paths=None, defect="crack", **metrics) -> dict:
    """A finished run of `cfg`: scores.csv from labels/scores, one history row per AUROC in `aurocs`, and a
    metrics.json whose last/best follow `aurocs`; `metrics` overrides any key. Returns the metrics dict."""
    run = Run(run_dir, cfg) if Run(run_dir).is_started else Run.create(run_dir, cfg)  # resumed, or new
    labels, scores = np.asarray(labels), np.asarray(scores)
    if paths is None:
        paths = [f"test/{'good' if y == 0 else defect}/{i:03d}.png" for i, y in enumerate(labels)]
    run.write_scores(pd.DataFrame({"path": paths, "label": labels,
                                   "defect": np.where(labels == 0, "good", defect), "score": scores}))
    run.write_history([HistoryRow(meta_epoch=k + 1, epoch=2 * (k + 1), train_loss=2.0 / (k + 1), auroc=float(a),
                                  seconds=float(k + 1)) for k, a in enumerate(aurocs)])
    dataset, category = spec_names(cfg.data)
    values = dict(auroc_last=float(aurocs[-1]), auroc_best=float(max(aurocs)),
                  best_epoch=int(np.argmax(aurocs)) + 1, train_seconds=2.5, eval_seconds=0.5,
                  train_images_per_s=40.0, test_images_per_s=80.0, peak_rss_mb=812.5, n_train=30,
                  n_test=len(labels), attention=cfg.attention, seed=cfg.seed, dataset=dataset, category=category,
                  threshold=float(np.median(scores)), threshold_method="youden", device="cpu")
    values.update(metrics)
    result = Metrics.from_dict(values).to_dict()
    run.write_metrics(result)
    return result
