"""Data settings: which images a run sees, where they live, which are held out and which are skipped."""

from __future__ import annotations

from dataclasses import dataclass

from adnkit.core.errors import ConfigError


@dataclass
class DataSettings:
    """The dataset, its location, the training subset and the validation split."""

    data: str = "elpv:mono"
    """Dataset spec, e.g. elpv:mono, mvtec:ROOT/CAT or a folder in MVTec layout (`adnkit data list`). Every
    form: a folder in MVTec layout, mvtec:ROOT/CAT, insplad:ROOT/ASSET, folder:PATH, elpv:mono|poly,
    wafer:PATH, wm811k:PATH/LSWMD.pkl, synthetic:NAME."""
    data_root: str = "data"
    """Where datasets are cached or looked up (synthetic sets, MVTec downloads, wafer-map images)."""
    skip_bad_images: bool = False
    """Skip unreadable or too-small images with a warning that counts them, instead of stopping."""
    max_train_images: int = 0
    """Use at most this many training images (deterministic subset by seed); 0 = all."""
    elpv_defect_threshold: float = 2 / 3
    """ELPV: cells with expert defect probability >= this are the defective test images."""
    elpv_test_good_fraction: float = 0.2
    """ELPV: share of the defect-free cells held out as good test images (deterministic split)."""
    min_image_side: int = 32
    """Smallest image side in pixels the network takes; smaller images are an error, or skipped with
    --skip-bad-images."""
    val_fraction: float = 0.1
    """Share of the good training images held out as a validation split, never trained on; 0 turns it off.
    At most 0.5; chosen from the file names, so the same for every seed and machine."""
    val_min_images: int = 8
    """Fewest images in the validation split, where the training set allows it (a full batch of training
    images is always kept)."""

    def validate(self) -> None:
        """Raise ConfigError for an impossible data setting."""
        if self.min_image_side < 1:
            raise ConfigError(f"min_image_side={self.min_image_side}: must be at least 1; use --min-image-side 32")
        if not 0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction={self.val_fraction}: must lie in [0, 0.5]; use --val-fraction 0.1 "
                              f"(or 0 for no validation split)")
        if self.val_min_images < 0:
            raise ConfigError(f"val_min_images={self.val_min_images}: must be 0 or more; use --val-min-images 8")
