"""min_image_side reaches every reader of images: load_split, the training ImageDatasets, scoring, explain.

A 20x24 px training image is below the default (32): an error, or dropped under --skip-bad-images; with
--min-image-side 16 the same image is trained on (before, load_split accepted it and ImageDataset, still at
32, stopped the run in its first epoch)."""

import warnings

import pytest
from PIL import Image

from adnkit.config.settings import preset
from adnkit.core.errors import DataError
from adnkit.data import DataWarning
from adnkit.detection.detector import Detector
from adnkit.explain import explain_image
from adnkit.training.trainer import train

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]


def _folder(root):
    for sub, n, value in (("train/good", 6, 60), ("test/good", 3, 90), ("test/crack", 3, 200)):
        for i in range(n):
            (root / sub).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (48, 48), (value + 5 * i, value // 2, 255 - value)).save(root / sub / f"{i:03d}.png")
    small = root / "train" / "good" / "small.png"
    Image.new("RGB", (20, 24), (70, 30, 180)).save(small)
    return small


def _cfg(root, tmp_path, **kw):
    # 7 training images: too few to hold out a validation split as well (val_fraction=0)
    return preset("ci", data=str(root), data_root=str(tmp_path / "dr"), meta_epochs=1, sub_epochs=1,
                  feature_cache_views=2, val_fraction=0, **kw)


def test_small_image_refused_or_skipped_at_the_default(tmp_path):
    root = tmp_path / "part"
    _folder(root)
    with pytest.raises(DataError, match=r"small\.png: image is 20x24 px.*min_image_side=32"):
        train(_cfg(root, tmp_path), tmp_path / "refused", progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = train(_cfg(root, tmp_path, skip_bad_images=True), tmp_path / "skipped", progress=False)
    assert metrics["n_train"] == 6
    assert any(issubclass(w.category, DataWarning) and "small.png" in str(w.message) for w in caught)


def test_lower_min_image_side_reaches_training_scoring_and_explain(tmp_path):
    root = tmp_path / "part"
    small = _folder(root)
    metrics = train(_cfg(root, tmp_path, min_image_side=16), tmp_path / "run", progress=False)
    assert metrics["n_train"] == 7  # the small image was trained on, not refused mid-epoch
    run = Detector.load(tmp_path / "run", device="cpu")
    table = run.score_files([small])
    assert len(table) == 1 and table["score"].notna().all()
    assert explain_image(run, small, "gradcam").map.shape == (24, 20)
