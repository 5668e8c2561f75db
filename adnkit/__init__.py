"""adnkit: DifferNet and AttentDifferNet (DifferNet + SE / CBAM attention) for image-level anomaly detection.

DifferNet: Rudolph, Wandt, Rosenhahn, "Same Same But DifferNet", WACV 2021.
AttentDifferNet: Vieira e Silva et al., "Attention Modules Improve Image-Level Anomaly Detection for
Industrial Inspection: A DifferNet Case Study", WACV 2024.
"""

from adnkit.attention.registry import register_attention  # noqa: E402,F401
from adnkit.config import Config, preset  # noqa: E402,F401
from adnkit.core.errors import AdnkitError  # noqa: E402,F401
from adnkit.core.version import __version__  # noqa: E402,F401
