"""What running the bench matrix on Ray costs on this machine: serial against Ray for the same ci-preset cells.

For each mode, the same matrix (default: synthetic:bench x none se cbam x 2 seeds = 6 cells, ci preset) runs
once with SerialExecutor and once with RayExecutor on a local Ray instance, each into a fresh folder:
  parallel     --cpus-per-run 1: as many tasks at once as there are cores, one torch thread each; the serial
               run also uses one thread.
  one-at-once  --cpus-per-run = all cores: one task at a time with all cores' threads, as the serial run;
               the difference is Ray's own cost.
Reported: Ray's import and start-up time (ray.init of a local instance), each wall time, the overhead per
task (Ray wall - serial wall) / cells, and whether the two results.csv agree on every metric. The synthetic
data is generated before timing. Prints one JSON document (and writes it with --out).

    python benchmarks/ray_overhead.py --out benchmarks/results/ray-overhead.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from jsonout import emit, require

from adnkit.config.settings import preset
from adnkit.data import load_split
from adnkit.experiments.bench import benchmark
from adnkit.experiments.executors import RayExecutor, SerialExecutor

NOT_COMPARED = {"train_seconds", "eval_seconds", "train_images_per_s", "test_images_per_s", "peak_rss_mb",
                "cuda_peak_mb", "reused"}


def timed_bench(args, base, out: Path, executor) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    results = benchmark([args.data], args.variants, list(range(args.seeds)), base, out, progress=False,
                        executor=executor)
    seconds = time.perf_counter() - t0
    done = int((results["status"] == "ok").sum())
    require(done == len(results) > 0, f"{type(executor).__name__}: {done} of {len(results)} cells finished")
    return seconds, results


def same_metrics(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = [c for c in a.columns if c not in NOT_COMPARED]
    return list(a.columns) == list(b.columns) and a[cols].equals(b[cols])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic:bench")
    parser.add_argument("--variants", nargs="+", default=["none", "se", "cbam"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--preset", default="ci")
    parser.add_argument("--modes", nargs="+", default=["parallel", "one-at-once"], choices=["parallel", "one-at-once"])
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    os.environ.setdefault("ADNKIT_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="adnkit-ray-overhead-"))
    base = preset(args.preset, data_root=str(work / "data"))
    load_split(base.replace(data=args.data))  # generate the synthetic set before anything is timed
    cells = len(args.variants) * args.seeds
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    import ray

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cores, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="warning")
    startup_s = time.perf_counter() - t0
    modes = {}
    try:
        for mode in args.modes:
            cpus = 1 if mode == "parallel" else cores
            torch.set_num_threads(cpus)  # the serial run computes with the threads each Ray task gets
            serial_s, serial = timed_bench(args, base, work / mode / "serial", SerialExecutor())
            ray_s, on_ray = timed_bench(args, base, work / mode / "ray", RayExecutor(cpus_per_run=cpus))
            modes[mode] = dict(
                cpus_per_run=cpus, torch_threads=cpus, tasks_at_once=cores // cpus, serial_wall_s=serial_s,
                ray_wall_s=ray_s, ray_wall_with_startup_s=ray_s + startup_s,
                overhead_per_task_s=(ray_s - serial_s) / cells, speedup=serial_s / ray_s,
                all_ok=bool((serial.status == "ok").all() and (on_ray.status == "ok").all()),
                metrics_identical=same_metrics(serial, on_ray))
    finally:
        ray.shutdown()
    doc = dict(
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        machine=dict(platform=platform.platform(), python=platform.python_version(), cores=cores,
                     load_average_before=load_before, load_average_after=os.getloadavg()),
        ray_version=ray.__version__, torch_version=torch.__version__, matrix=dict(
            data=args.data, variants=args.variants, seeds=args.seeds, preset=args.preset, cells=cells),
        ray_import_s=import_s, ray_startup_s=startup_s, modes=modes,
        note="overhead_per_task_s = (ray_wall_s - serial_wall_s) / cells, Ray's start-up not included "
             "(ray_wall_with_startup_s includes it); negative when Ray's parallel tasks beat the serial run",
    )
    emit(doc, args.out)


if __name__ == "__main__":
    main()
