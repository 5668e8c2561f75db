"""Scoring speed of an exported detector: PyTorch vs onnxruntime (and TorchScript) on this CPU.

For each preset, a run folder is made from the preset's model with ImageNet AlexNet weights and a flow left
at its random init (the speed does not depend on training; the paper preset's flow has ~172 M parameters)
and exported with adnkit.export.onnx_export. A folder of synthetic images is read once with adnkit's reader (timed:
`read_images_per_s`), then scored at batch 1 and batch 16 (images per call; every call holds B * T rotated
views) by
  pytorch      DifferNet.score (float32, no autograd)
  onnxruntime  the exported graph (CPUExecutionProvider)
  torchscript  torch.jit.trace of the same graph module (with --torchscript)
with 1 thread and with the default thread count. A batch whose views would need more memory than the
machine has free is skipped and says so. Prints one JSON document (and writes it with --out).

    python benchmarks/export_speed.py --presets cpu paper --out benchmarks/results/export-speed-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import onnxruntime as ort
import torch
from jsonout import emit, require
from test_time import best_of

from adnkit.config.settings import preset
from adnkit.core.device import peak_rss_mb
from adnkit.data import ImageDataset, Sample
from adnkit.data.synthetic import make_synthetic
from adnkit.export.graph import ScoringGraph
from adnkit.export.onnx_export import export_onnx
from adnkit.model.differnet import DifferNet
from adnkit.model.flow import count_parameters
from adnkit.model.scoring import score_images
from adnkit.runs.folder import Run


def make_run(name: str, attention: str, out: Path) -> tuple[Path, DifferNet]:
    """A run folder (settings and weights, through adnkit.runs.folder.Run) of the preset's model with random flow
    weights, and the model. Its threshold is arbitrary."""
    cfg = preset(name, attention=attention, device="cpu")
    model = DifferNet(cfg, progress=False)
    run = Run.create(out, cfg)
    run.save_model(model.stored_state(), threshold=1.0,
                   threshold_method="benchmark run: random flow weights, arbitrary threshold.")
    return out, model.eval()


def available_mb() -> float:
    with open("/proc/meminfo") as fh:
        info = dict(line.split(":", 1) for line in fh)
    return int(info["MemAvailable"].split()[0]) / 1024


def view_bytes(cfg) -> int:
    """Rough bytes one rotated view occupies in flight: input, rotated and normalised copies, and the largest
    AlexNet activation (conv1 and its ReLU) at every scale."""
    s = cfg.image_size
    conv1 = sum(64 * ((size - 11 + 4) // 4 + 1) ** 2 for size in cfg.scale_sizes)
    return 4 * (3 * 3 * s * s + 3 * conv1)


def timed(fn, batches, repeats: int) -> float:
    """Best over `repeats` of the seconds to run fn on every batch (one warm-up pass first)."""
    return best_of(lambda: [fn(b) for b in batches], repeats)


def bench_preset(name: str, attention: str, n_images: int, batches: list[int], threads: list[int],
                 repeats: int, torchscript: bool, work: Path) -> dict:
    run_dir, model = make_run(name, attention, work / f"run-{name}")
    cfg = model.cfg
    t0 = time.perf_counter()
    onnx_path = export_onnx(run_dir, work / f"{name}.onnx")
    export_s = time.perf_counter() - t0
    folder = make_synthetic(work / f"images-{name}", n_train=1, n_test_good=n_images, n_test_defect=0, size=256)
    paths = sorted((Path(folder) / "test" / "good").glob("*.png"))[:n_images]
    t0 = time.perf_counter()
    dataset = ImageDataset([Sample(p, -1, "unknown", None) for p in paths], cfg.image_size)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    read_s = time.perf_counter() - t0
    graph = ScoringGraph(model).eval()
    traced = None
    if torchscript:
        with torch.no_grad():
            traced = torch.jit.trace(graph, images[:1], check_trace=False)
    result = dict(preset=name, attention=attention, image_size=cfg.image_size, scales=cfg.scales,
                  test_transforms=cfg.test_transforms, flow_parameters=count_parameters(model.flow),
                  onnx_file_mb=round(onnx_path.stat().st_size / 1e6, 1), export_s=round(export_s, 1),
                  n_images=len(paths), read_images_per_s=round(len(paths) / read_s, 2), runs=[])
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = n_threads
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        for batch in batches:
            need_mb = batch * cfg.test_transforms * view_bytes(cfg) / 2**20
            row = dict(threads=n_threads, batch=batch, views_per_call=batch * cfg.test_transforms)
            if batch > len(paths) or need_mb > 0.5 * available_mb():
                row["skipped"] = (f"needs {len(paths)} >= {batch} images and ~{need_mb:.0f} MB for the views of one "
                                  f"call ({available_mb():.0f} MB available)")
                result["runs"].append(row)
                continue
            chunks = [images[i:i + batch] for i in range(0, len(paths) - len(paths) % batch, batch)]
            n = sum(len(c) for c in chunks)
            with torch.no_grad():
                scored = [len(score_images(model, c)) for c in chunks], [
                    len(session.run(None, {"images": c.numpy()})[0]) for c in chunks]
            require(n > 0 and all(sum(k) == n for k in scored),
                    f"{name}, batch {batch}: PyTorch / onnxruntime scored {[sum(k) for k in scored]} of {n} images")
            with torch.no_grad():
                row["pytorch_images_per_s"] = round(n / timed(lambda c: score_images(model, c), chunks, repeats), 3)
                arrays = [c.numpy() for c in chunks]
                row["onnxruntime_images_per_s"] = round(
                    n / timed(lambda a, s=session: s.run(None, {"images": a}), arrays, repeats), 3)
                if traced is not None:
                    row["torchscript_images_per_s"] = round(n / timed(traced, chunks, repeats), 3)
            print(json.dumps({name: row}), file=sys.stderr, flush=True)
            result["runs"].append(row)
    result["peak_rss_mb"] = round(peak_rss_mb(), 0)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--attention", default="none")
    parser.add_argument("--n-images", type=int, default=16, help="images in the folder (at least the largest batch)")
    parser.add_argument("--paper-images", type=int, default=2,
                        help="images at the paper preset (64 views of 448 px each: seconds per image on a CPU)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torchscript", action="store_true", help="also time torch.jit.trace of the graph")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    threads = sorted(set(args.threads))
    doc = dict(machine=dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
                            cpu_count=os.cpu_count(), torch=torch.__version__, onnxruntime=ort.__version__),
               command="python benchmarks/export_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               results=[])
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            n = args.paper_images if name == "paper" else args.n_images
            doc["results"].append(bench_preset(name, args.attention, n, args.batches, threads, args.repeats,
                                               args.torchscript, Path(tmp)))
    emit(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
