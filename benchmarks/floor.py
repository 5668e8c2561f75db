"""A run at its floor: where `adnkit train`'s wall clock goes, phase by phase, beside the least each phase could
take on this device.

For a preset, a data spec and a device, this script
1. measures the device's peaks in this process (benchmarks/floor_peaks.py): the backbone's convolutions at each
   scale, the flow's matrix products at a step's and at scoring's rows, memory bandwidth, decoding the run's
   images, disk writes; and `python -c "import torch"` (the least a torch program pays to start and exit);
2. runs `python -m adnkit train` in a subprocess with those settings (same threads and CPU affinity), timing its
   wall clock from outside and sampling its threads' on-CPU and waiting time (/proc/PID/task/*/schedstat);
3. reads the run's own timers (metrics.json: `startup_seconds`, `phases`, `phases_cpu`, `checkpoints`) and
   puts each group of phases beside its floor: FLOPs / peak FLOP/s, bytes / peak bytes/s, images x decode time.

The floor's assumptions (each row says which): the backbone is frozen (no backward through it); every image is
decoded once; a rotated, normalised view is written once as float32 and its uint8 source read once; the
flow's forward, backward and Adam step run once per training row (Adam: 28 bytes per weight); each evaluation
passes the test and validation views through the flow once, and the test views go through the backbone once
per run when they can be cached (frozen backbone), else once per evaluation; checkpoint I/O needs one write of
the final state; model.pt one write; start-up and exit need what `import torch` needs. Threshold, bootstrap and
reports have no floor (counted as 0: the ratio charges them in full).

    taskset -c 1 python benchmarks/floor.py --preset cpu --data elpv:mono --threads 1 \\
        --out benchmarks/results/floor-cpu-elpv-mono.json
    python benchmarks/floor.py --preset paper --data elpv:mono --threads 1 --set image_size=256 scales=3 \\
        meta_epochs=4 sub_epochs=3 test_transforms=16 feature_cache_views=0 --run-dir runs/floor-paper
    python benchmarks/floor.py --existing runs/floor-paper ...   # the table of a finished run (no new run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from floor_peaks import backbone_peaks, decode_seconds, disk_write, flow_peaks, memory_bandwidth
from floor_table import floor_rows, summarize  # noqa: E402
from jsonout import emit, require  # noqa: E402 - benchmarks/ is on sys.path when a script runs

from adnkit.config.checks import flag
from adnkit.config.settings import Config, preset
from adnkit.config.values import parse_value
from adnkit.core.device import resolve_device
from adnkit.data.specs import load_split
from adnkit.model.scoring import ROWS_PER_BATCH
from adnkit.runs.folder import Run


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def load_now() -> dict:
    """The machine's load averages and how many processes are runnable now."""
    try:
        parts = Path("/proc/loadavg").read_text().split()
        return dict(load_1m=float(parts[0]), load_5m=float(parts[1]), load_15m=float(parts[2]), runnable=parts[3])
    except OSError:
        return {}


def schedstat(pid: int) -> dict[int, tuple[int, int]]:
    """{thread id: (ns on CPU, ns waiting on a run queue)} of a process's threads now."""
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            on_cpu, waiting = Path(task, "schedstat").read_text().split()[:2]
            out[int(task.name)] = (int(on_cpu), int(waiting))
        except (OSError, ValueError):
            pass
    return out


def run_training(cfg_args: list[str], out_dir: Path, threads: int) -> dict:
    """`python -m adnkit train` in a subprocess: its wall clock from outside, its CPU time (rusage), and its
    threads' on-CPU / waiting seconds (schedstat, sampled every half second)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "adnkit", "train", *cfg_args, "--out", str(out_dir), "--quiet"]
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    seen: dict[int, tuple[int, int]] = {}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    while True:
        seen.update(schedstat(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    require(os.waitstatus_to_exitcode(status) == 0, f"adnkit train exited with {status}")
    return dict(command=" ".join(cmd), wall_s=wall, user_s=usage.ru_utime, sys_s=usage.ru_stime,
                minor_faults=usage.ru_minflt,
                sched_on_cpu_s=sum(v[0] for v in seen.values()) / 1e9,
                sched_waiting_s=sum(v[1] for v in seen.values()) / 1e9, threads_seen=len(seen))


def python_start_and_exit(threads: int, repeats: int = 2) -> float:
    """Best wall seconds of `python -c "import torch"` (start, import, exit): the least a torch program pays."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_peaks(cfg: Config, device: torch.device, threads: int, out_dir: Path) -> dict:
    split = load_split(cfg)
    samples = split.train + split.val + split.test
    print("measuring peaks ...", file=sys.stderr, flush=True)
    rows_step = cfg.batch_size * cfg.train_transforms
    return dict(
        backbone=backbone_peaks(cfg, device, threads),
        flow=flow_peaks(cfg, device, threads, rows_step=rows_step, rows_score=4096),
        memory=memory_bandwidth(device, threads),
        decode=decode_seconds(samples, cfg.image_size, cfg.min_image_side),
        disk=disk_write(out_dir.parent if out_dir.parent.exists() else Path(tempfile.gettempdir())),
        python_import_torch_s=python_start_and_exit(threads),
        n_images=len(samples), rows_per_backbone_batch=ROWS_PER_BATCH,
    )


def parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        settings[name] = parse_value(name, text)
    return settings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--data", default="elpv:mono")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="settings over the preset")
    parser.add_argument("--run-dir", help="the run folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--existing", help="a finished run folder to tabulate instead of training a new one")
    parser.add_argument("--label", default="", help="a name for this measurement in the JSON (e.g. before)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = parse_settings(args.set)
    settings.update(data=args.data, device=args.device, **({"data_root": args.data_root} if args.data_root else {}))
    cfg = Run.open(args.existing).config if args.existing else preset(args.preset, **settings)
    device = resolve_device(cfg.device)
    run_dir = Path(args.existing or args.run_dir or tempfile.mkdtemp(prefix="floor-run-"))
    doc = dict(label=args.label, date=time.strftime("%Y-%m-%d %H:%M"), preset=args.preset, settings=settings,
               machine=dict(cpu=cpu_model(), cores=os.cpu_count(), affinity=sorted(os.sched_getaffinity(0)),
                            threads=args.threads, torch=torch.__version__, device=str(device)),
               load_before=load_now())
    doc["peaks"] = measure_peaks(cfg, device, args.threads, run_dir)
    if args.existing:
        doc["process"] = {}
    else:
        if args.run_dir is None:
            run_dir.rmdir()
        cfg_args = ["--preset", args.preset, *[x for k, v in settings.items()
                                               for x in (flag(k), _text(v))]]
        doc["process"] = run_training(cfg_args, run_dir, args.threads)
    doc["load_after"] = load_now()
    run = Run.open(run_dir)
    metrics = run.read_metrics().to_dict()
    doc["run"] = {k: metrics.get(k) for k in ("auroc_last", "n_train", "n_test", "n_val", "meta_epochs",
                                              "fast_path", "startup_seconds", "phases", "phases_cpu",
                                              "checkpoints", "train_seconds", "eval_seconds", "peak_rss_mb")}
    doc["rows"] = floor_rows(run.config, metrics, doc["peaks"], doc["process"])
    doc["summary"] = summarize(doc["rows"], doc["process"], metrics)
    if not args.existing and args.run_dir is None:
        shutil.rmtree(run_dir, ignore_errors=True)
    emit(doc, args.out)
    return 0


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
