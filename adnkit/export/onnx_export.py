"""Export a trained run to one ONNX file: uint8 images [B, 3, S, S] -> anomaly scores [B], with the decision
threshold, its method, the image size, T, the adnkit version and the run's config in the file's metadata.

    adnkit export RUN_DIR --out detector.onnx [--opset N] [--batch dynamic|N]

The graph is adnkit.export.graph.ScoringGraph (rotations, normalisation, embedding, flow, mean z^2), exported
with torch's own exporter and checked with onnx's checker. Resizing is not in the graph: adnkit's reader
(PIL bilinear, see adnkit/data/dataset.py) or the Pillow code of examples/score_onnx.py does it.

Exporter: `torch.onnx.export(..., dynamo=True)`, the torch.export-based path. It traces DifferNet and the
FrEIA flow as they are (no graph written by hand), handles the dynamic batch through torch.export's
symbolic shapes, and is the path torch maintains; the TorchScript-based exporter is deprecated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from adnkit.config import Config
from adnkit.core.errors import ExportError
from adnkit.core.version import __version__
from adnkit.detection.detector import Detector
from adnkit.evaluation.threshold import Threshold
from adnkit.export.graph import ScoringGraph

MARKER_KEY = "adnkit_export"
"""Metadata key present in every adnkit export; its value is the format version."""
FORMAT_VERSION = "1"
INPUT_NAME, OUTPUT_NAME = "images", "scores"
INPUT_LAYOUT = ("uint8 RGB [B, 3, S, S]: decoded, converted to RGB and resized to S x S with PIL's bilinear "
                "filter (Image.resize((S, S), Image.BILINEAR)); no normalisation")


def _check_batch(batch) -> int | None:
    """'dynamic' -> None; a positive int (or its string) -> that int; else ExportError."""
    if batch in (None, "dynamic"):
        return None
    try:
        value = int(batch)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or str(batch).strip() != str(value):
        raise ExportError(f"batch={batch!r}: use --batch dynamic or a whole number of images such as --batch 1")
    return value


def metadata(cfg: Config, threshold: Threshold, batch: int | None) -> dict[str, str]:
    """The ONNX metadata_props of an export of a run (its settings and threshold): all values are strings (floats
    as repr)."""
    record = {k: repr(v) if isinstance(v, float) else str(v) for k, v in threshold.to_record().items()}
    return {
        MARKER_KEY: FORMAT_VERSION,
        "adnkit_version": __version__,
        **record,
        "image_size": str(cfg.image_size),
        "test_transforms": str(cfg.test_transforms),
        "test_angles": json.dumps([k * 360.0 / cfg.test_transforms for k in range(cfg.test_transforms)]),
        "batch": "dynamic" if batch is None else str(batch),
        "input": INPUT_LAYOUT,
        "output": "float32 [B]: anomaly score, mean of z^2 over dimensions and views; "
                  "score >= threshold means anomalous",
        "config": cfg.to_json(),
    }


def export_onnx(run_dir: str | Path, out: str | Path, opset: int | None = None, batch: int | str = "dynamic",
                verbose: bool = False) -> Path:
    """Export the run in `run_dir` to the ONNX file `out` (written atomically) and return its path.

    `batch`: "dynamic" (any number of images per call) or a fixed number N. `opset`: the ONNX opset
    (default: torch's exporter's default; GridSample with nearest sampling needs 16 or more).
    """
    import onnx  # the export extra

    fixed = _check_batch(batch)
    opset = None if opset is None else int(opset)
    if opset is not None and opset < 16:
        raise ExportError(f"opset={opset}: the rotations need ONNX GridSample (opset 16 or later); "
                          "use --opset 18 or leave it out")
    detector = Detector.load(run_dir, device="cpu")
    cfg = detector.cfg
    if cfg.random_test_rotations:
        raise ExportError(f"{run_dir}: random_test_rotations=True draws new test angles for every image, which "
                          "one fixed graph cannot reproduce; retrain with --random-test-rotations false")
    # The graph computes in float32 throughout: the bf16 fast paths (flow_precision, cpu_bf16_backbone) are
    # speed settings, and an exported file must score the same on any CPU.
    detector.model.cfg = cfg.replace(flow_precision="fp32", cpu_bf16_backbone="off")
    detector.model.set_flow_precision(torch.device("cpu"))
    graph = ScoringGraph(detector.model).eval()
    example = torch.zeros(fixed or 2, 3, cfg.image_size, cfg.image_size, dtype=torch.uint8)
    dynamic = None if fixed else {INPUT_NAME: {0: torch.export.Dim("batch", min=1)}}
    try:
        with torch.no_grad():
            program = torch.onnx.export(graph, (example,), None, dynamo=True, opset_version=opset,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=dynamic, verbose=verbose, report=False)
    except Exception as err:  # noqa: BLE001 - the exporter's errors are long; keep the first line and say where
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ExportError(f"{run_dir}: torch.onnx.export failed ({type(err).__name__}: {first}); "
                          "report it with the run's config.json") from err
    program.model.metadata_props.update(metadata(cfg, detector.threshold, fixed))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        program.save(tmp, external_data=False)
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
