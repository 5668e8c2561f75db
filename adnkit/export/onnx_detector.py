"""Score images with an exported detector (adnkit.export.onnx_export) through onnxruntime: OnnxDetector(path).

The detector reads its threshold (adnkit.evaluation.threshold.Threshold's record), image size, T and the run's
config from the file's metadata, so an .onnx file alone is a complete detector. It is a
adnkit.detection.detector.Scorer: images go through adnkit's own reader (decode, RGB, PIL bilinear resize),
the same pixels as scoring the run folder with PyTorch, and `score_files` gives the same table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from adnkit.config import Config
from adnkit.core.errors import ExportError
from adnkit.data.dataset import ImageDataset
from adnkit.detection.detector import Detector, Scorer
from adnkit.evaluation.threshold import Threshold
from adnkit.export.onnx_export import MARKER_KEY

ROWS_PER_RUN = 96
"""About this many rotated views per onnxruntime call (images per call = ROWS_PER_RUN // T, at least 1), as
the PyTorch path batches its views: bounded memory at the paper preset's 64 rotations."""


class OnnxDetector(Scorer):
    """An adnkit ONNX export loaded into an onnxruntime session.

    Attributes: threshold (a Threshold), image_size, test_transforms, cfg (the run's Config), batch (the graph's
    fixed batch size, or None when dynamic), metadata (all metadata_props). `images_per_call` sets how many
    images go to onnxruntime at once when scoring files (default: the fixed batch, else about ROWS_PER_RUN views)."""

    def __init__(self, path: str | Path, threads: int | None = None, images_per_call: int | None = None):
        import onnxruntime as ort  # the export extra

        self.path = Path(path)
        if not self.path.is_file():
            raise ExportError(
                f"{self.path}: no such ONNX file; make one with `adnkit export RUN_DIR --out {self.path}`"
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types
            first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise ExportError(f"{self.path}: onnxruntime cannot load it ({first}); re-export it with "
                              "`adnkit export RUN_DIR --out FILE.onnx`") from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if MARKER_KEY not in self.metadata:
            raise ExportError(f"{self.path}: not an adnkit export (no '{MARKER_KEY}' metadata); score only files "
                              "written by `adnkit export RUN_DIR --out FILE.onnx`")
        self.threshold = Threshold.from_record(self.metadata)
        self.image_size = int(self.metadata["image_size"])
        self.test_transforms = int(self.metadata["test_transforms"])
        self.cfg = Config.from_dict(json.loads(self.metadata["config"]))
        self.min_side = self.cfg.min_image_side
        self.input = self.session.get_inputs()[0]
        first_dim = self.input.shape[0]
        self.batch = first_dim if isinstance(first_dim, int) else None
        self.images_per_call = images_per_call or self.batch or max(1, ROWS_PER_RUN // self.test_transforms)

    def score(self, images: np.ndarray) -> np.ndarray:
        """uint8 images [B, 3, S, S] (resized to S = image_size) -> anomaly scores [B] (float32).

        A fixed-batch graph gets its N images per call; the last call is padded with black images whose
        scores are dropped."""
        images = np.asarray(images)
        s = self.image_size
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2:] != (s, s):
            raise ExportError(f"{self.path}: images of shape {list(images.shape)} do not fit this graph, which "
                              f"takes uint8 [B, 3, {s}, {s}]; resize them to {s}x{s} with adnkit's reader "
                              f"(adnkit.data.ImageDataset(samples, {s})) or score files with `adnkit score`")
        if images.dtype != np.uint8:
            raise ExportError(f"{self.path}: images are {images.dtype}, the graph takes uint8 pixels 0..255; "
                              "pass them undivided and unnormalised")
        if self.batch is None:
            return self.session.run(None, {self.input.name: images})[0]
        n = len(images)
        pad = -n % self.batch
        padded = np.concatenate([images, np.zeros((pad, 3, s, s), np.uint8)]) if pad else images
        out = [self.session.run(None, {self.input.name: padded[i:i + self.batch]})[0]
               for i in range(0, len(padded), self.batch)]
        return np.concatenate(out)[:n]

    def score_dataset(self, dataset: ImageDataset, progress: bool = False) -> np.ndarray:
        """Scores [N] (float64) of a dataset of uint8 images, `images_per_call` at a time."""
        loader = DataLoader(dataset, batch_size=self.images_per_call, shuffle=False, num_workers=self.cfg.num_workers)
        batches = tqdm(loader, desc="scoring (onnxruntime)", disable=not progress, leave=False)
        return np.concatenate([self.score(images.numpy()) for images, _ in batches]).astype(np.float64)


def is_onnx_path(item) -> bool:
    """True for a str/Path naming an .onnx file (how `adnkit score` tells an export from a run folder)."""
    return isinstance(item, (str, Path)) and Path(item).suffix.lower() == ".onnx"


def open_detector(path: str | Path, device: str = "auto") -> Scorer:
    """The detector a path names: an OnnxDetector for an .onnx file from `adnkit export`, else the Detector of a
    run folder (what `adnkit score` takes)."""
    return OnnxDetector(path) if is_onnx_path(path) else Detector.load(path, device=device)
