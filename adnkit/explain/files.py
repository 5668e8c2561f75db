"""`adnkit explain`: overlays of images under one or more trained runs, written as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from adnkit.core.errors import DataError
from adnkit.core.formatting import safe_name
from adnkit.data.images import collect_images
from adnkit.detection.detector import Detector
from adnkit.explain.figures import side_by_side
from adnkit.explain.image import Explanation, explain_image
from adnkit.explain.methods import canonical_method


def unique_names(paths: Sequence[Path]) -> list[str]:
    """File-name stems for images, unique: the stem, else parent_stem (MVTec's test/<defect>/000.png), else
    with a counter."""
    stems = [p.stem for p in paths]
    names = [safe_name(s) if stems.count(s) == 1 else safe_name(f"{p.parent.name}_{p.stem}")
             for s, p in zip(stems, paths, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if names.count(n) == 1 else f"{n}_{seen[n]}")
    return out


def write_explanations(run_dirs: Sequence[str | Path], images: Sequence[str | Path], out: str | Path,
                       method: str = "gradcam", layer="last", device: str = "auto", **options) -> list[Path]:
    """For each run and image write `<out>/<run-name>/<image-stem>_<method>.png` (the overlay, at the image's
    own size); with several runs also `<out>/compare/<image-stem>_<method>.png` (original + overlays side by
    side). Images may be files or folders. Returns the written paths. Bad paths: DataError (one line)."""
    method = canonical_method(method)
    if not run_dirs:
        raise DataError("no run folder given; pass the --out folder(s) of `adnkit train`")
    runs: dict[str, object] = {}
    for rd in run_dirs:
        run = Detector.load(rd, device=device)
        name = safe_name(Path(rd).resolve().name)
        base, k = name, 2
        while name in runs:
            name, k = f"{base}-{k}", k + 1
        runs[name] = run
    paths = collect_images(list(images))
    stems = unique_names(paths)
    out = Path(out)
    options.setdefault("on_blank", "warn")
    tag = safe_name(method)
    written: list[Path] = []
    for path, stem in zip(paths, stems, strict=True):
        panels: dict[str, Explanation] = {}
        for name, run in runs.items():
            ex = explain_image(run, path, method, layer, **options)
            panels[name] = ex
            target = out / name / f"{stem}_{tag}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ex.overlay, "RGB").save(target)
            written.append(target)
        if len(runs) > 1:
            target = out / "compare" / f"{stem}_{tag}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            side_by_side(next(iter(panels.values())).image, panels).save(target)
            written.append(target)
    return written
