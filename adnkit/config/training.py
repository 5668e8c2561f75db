"""Training settings: the schedule, the optimiser, what trains and which model the run keeps."""

from __future__ import annotations

from dataclasses import dataclass

from adnkit.config.checks import require_at_least
from adnkit.core.errors import ConfigError


@dataclass
class TrainingSettings:
    """Epochs, batches, Adam, the seed, whether the attention blocks train, and the model kept."""

    meta_epochs: int = 24
    """Training rounds; the test set is scored after each (the papers' "meta epochs")."""
    sub_epochs: int = 8
    """Passes over the training images per meta epoch."""
    batch_size: int = 24
    """Training images per optimiser step."""
    train_transforms: int = 4
    """Random rotations of each training image per step (the batch holds batch_size x this rows)."""
    lr: float = 2e-4
    """Adam's learning rate."""
    betas: tuple[float, float] = (0.8, 0.8)
    """Adam's two moment decay rates."""
    eps: float = 1e-4
    """Adam's epsilon."""
    weight_decay: float = 1e-5
    """Adam's weight decay."""
    train_attention: bool = False
    """Optimise the attention blocks together with the flow (AlexNet's convolutions stay frozen)."""
    attention_lr_scale: float = 0.5
    """Attention blocks' learning rate as a multiple of `lr` when train_attention is on."""
    seed: int = 0
    """Seed of every random choice in the run (initialisation, rotations, subsets)."""
    checkpoint_minutes: float = 10.0
    """Write the resume checkpoint at most this often (minutes; in the background) and after the last meta epoch;
    0 writes after every meta epoch. Ctrl-C or an error writes the last finished meta epoch before stopping; a
    killed process loses at most this long plus the meta epoch in progress (adnkit.training.checkpoints)."""
    select: str = "last"
    """Which model the run keeps: last (after the final epoch) or val (lowest validation loss). val is
    chosen without test labels and needs a validation split."""

    def normalize(self) -> None:
        """Betas as a tuple of floats (JSON gives a list)."""
        self.betas = tuple(float(b) for b in self.betas)

    def validate(self) -> None:
        """Raise ConfigError for an impossible training setting."""
        require_at_least(self, ("meta_epochs", "sub_epochs", "batch_size", "train_transforms"))
        if self.checkpoint_minutes < 0:
            raise ConfigError(f"checkpoint_minutes={self.checkpoint_minutes}: must be 0 (every meta epoch) or more; "
                              "use --checkpoint-minutes 10")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr}: must be positive; use --lr 2e-4")
        if self.select not in ("last", "val"):
            raise ConfigError(f"select={self.select!r}: use --select last or --select val")
