"""Where does the detector look? Grad-CAM (pytorch-grad-cam) and DifferNet's own gradient maps.

Two kinds of map, both of the anomaly score, both returned as float numpy [H, W] in [0, 1] at the size of the
ORIGINAL image file (not the network's input size):

- class-activation maps (`method` = "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"; see
  `cam_methods()`) at a backbone tap, the target being the anomaly score mean(z^2) of one view (cam.py);
- DifferNet's gradient map (`method="gradients"`, docs/method.md), the input gradient of the score over
  fixed rotations (gradients.py).

A blank map is a `BlankMapError` (or, with `on_blank="warn"`, a loud `BlankMapWarning`), never a silently
empty picture (methods.py). The package, by concern:

    methods.py    method names, blank-map checks
    cam.py        pytorch-grad-cam machinery: ScoreModel, per-scale taps, cam_map
    gradients.py  DifferNet's gradient_map
    image.py      explain_image -> Explanation (one image, one model)
    overlay.py    maps as pictures: resize, JET overlay, PNG bytes
    figures.py    several variants side by side: compare (plotly), side_by_side (PIL)
    masks.py      agreement with ground-truth masks: mask_agreement, localization_table
    files.py      write_explanations (`adnkit explain`)
"""

from adnkit.data.dataset import load_image, read_mask_file
from adnkit.explain.cam import ScoreModel, cam_map, resolve_layer, score_target
from adnkit.explain.figures import compare, side_by_side
from adnkit.explain.files import unique_names, write_explanations
from adnkit.explain.gradients import gradient_map
from adnkit.explain.image import Explanation, as_detector, explain_image, image_score
from adnkit.explain.masks import localization_scores, localization_table, mask_agreement
from adnkit.explain.methods import (
    GRADIENT_METHOD,
    METHODS,
    BlankMapError,
    BlankMapWarning,
    cam_methods,
    canonical_method,
    check_map,
    is_informative,
)
from adnkit.explain.overlay import overlay_map, png_bytes

__all__ = [
    "GRADIENT_METHOD", "METHODS", "BlankMapError", "BlankMapWarning", "Explanation", "ScoreModel", "as_detector",
    "cam_map",
    "cam_methods", "canonical_method", "check_map", "compare", "explain_image", "gradient_map", "image_score",
    "is_informative", "load_image", "localization_scores", "localization_table", "mask_agreement",
    "overlay_map", "png_bytes", "read_mask_file", "resolve_layer", "score_target", "side_by_side",
    "unique_names", "write_explanations",
]


def __getattr__(name: str):  # CAM_METHODS without importing pytorch-grad-cam at `import adnkit.explain`
    if name == "CAM_METHODS":
        return cam_methods()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
