"""Score images with an adnkit ONNX export using only onnxruntime, numpy and Pillow (no PyTorch, no adnkit).

    python score_onnx.py detector.onnx image1.png image2.jpg ...

Prints one line per image: path, score, decision (anomalous when score >= the threshold stored in the file).
The pixels are prepared exactly as adnkit's reader does (adnkit/data/images.py read_image and
adnkit/data/dataset.py ImageDataset): decode, honour the EXIF orientation, convert to RGB (16/32-bit images
scaled from their own min..max to 0..255), squash to S x S with PIL's bilinear filter, uint8 [3, S, S].
"""

import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps


def to_rgb(img):
    """The reader's RGB conversion (adnkit.data.images.to_rgb)."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith(("I", "F")):  # 16- and 32-bit: own min..max to 0..255
        values = np.asarray(img, dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        grey = np.rint((values - lo) * scale).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    return img.convert("RGB")


def load(path, size):
    """An image file as uint8 [3, size, size], the pixels adnkit's reader gives the network."""
    with Image.open(path) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
    img = to_rgb(img).resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


def main(model_path, image_paths):
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if "adnkit_export" not in meta:
        sys.exit(f"{model_path}: not an adnkit export; make one with `adnkit export RUN_DIR --out FILE.onnx`")
    size, threshold = int(meta["image_size"]), float(meta["threshold"])
    images = session.get_inputs()[0]
    batch = images.shape[0] if isinstance(images.shape[0], int) else 1  # a fixed-batch graph takes N at a time
    for start in range(0, len(image_paths), batch):
        paths = image_paths[start:start + batch]
        x = np.stack([load(p, size) for p in paths])
        if len(x) < batch:  # pad the last call of a fixed-batch graph with black images
            x = np.concatenate([x, np.zeros((batch - len(x), *x.shape[1:]), np.uint8)])
        scores = session.run(None, {images.name: x})[0]
        for path, score in zip(paths, scores):
            print(f"{path}\t{float(score):.9g}\t{'anomalous' if float(score) >= threshold else 'good'}")
    print(f"threshold {threshold:.9g}: {meta['threshold_method']}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    main(sys.argv[1], sys.argv[2:])
