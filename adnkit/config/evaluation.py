"""Evaluation settings: how test images are scored, how the decision threshold is chosen, the AUROC interval."""

from __future__ import annotations

from dataclasses import dataclass

from adnkit.config.checks import require_at_least
from adnkit.core.errors import ConfigError
from adnkit.evaluation.threshold import THRESHOLD_METHODS


@dataclass
class EvaluationSettings:
    """Test-time rotations, the threshold and the bootstrap interval."""

    test_transforms: int = 64
    """Rotations averaged into one test score."""
    random_test_rotations: bool = False
    """Random test angles like the original code (not reproducible); off: fixed angles k*360/T."""
    threshold_method: str = "val_fpr"
    """How the decision threshold is chosen: val_fpr, youden or train_quantile. val_fpr calls at most
    target_fpr of the validation images defective and needs no test labels (train_quantile when
    val_fraction is 0); youden maximises TPR - FPR on the test set itself, so it is chosen on the test set;
    train_quantile is a quantile of the training images' scores, which sit low because the flow was fitted
    to them."""
    threshold_quantile: float = 0.99
    """threshold_method=train_quantile: the quantile of the training images' scores."""
    target_fpr: float = 0.01
    """threshold_method=val_fpr: the false-positive rate the threshold is set for. It is the share of
    validation images allowed to score at or above the threshold."""
    bootstrap_resamples: int = 1000
    """Resamples of the bootstrap interval of the test AUROC (auroc_last_ci)."""

    def validate(self) -> None:
        """Raise ConfigError for an impossible evaluation setting."""
        require_at_least(self, ("test_transforms",))
        if self.threshold_method not in THRESHOLD_METHODS:
            raise ConfigError(f"threshold_method={self.threshold_method!r}: use --threshold-method "
                              f"{', '.join(THRESHOLD_METHODS[:-1])} or {THRESHOLD_METHODS[-1]}")
        if not 0 < self.threshold_quantile < 1:
            raise ConfigError(f"threshold_quantile={self.threshold_quantile}: must lie in (0, 1)")
        if not 0 < self.target_fpr < 1:
            raise ConfigError(f"target_fpr={self.target_fpr}: must lie in (0, 1); use --target-fpr 0.01")
        if self.bootstrap_resamples < 100:
            raise ConfigError(f"bootstrap_resamples={self.bootstrap_resamples}: use at least 100 "
                              "(--bootstrap-resamples 1000)")
