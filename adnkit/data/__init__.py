"""Datasets for adnkit: every source becomes a `Split` of labelled image files in MVTec layout.

    split = load_split(cfg)                      # cfg.data is a spec: a folder, mvtec:..., elpv:mono, synthetic:demo
    train = ImageDataset(split.train, cfg.image_size)   # (uint8 [3, S, S], index) items

Sources: MVTec-layout folders, MVTec AD, InsPLAD-fault, wafer folders and WM-811K maps, ELPV (installs
offline from PyPI) and synthetic sets, one DataSource each in adnkit.data.sources; `register_source` adds
one from user code. See adnkit.data.specs for the spec strings and data/README.md for where each dataset goes
and its licence.
"""

from adnkit.data.dataset import ImageDataset, read_mask, read_mask_file
from adnkit.data.images import IMAGE_EXTENSIONS, DataWarning, read_image, validate_split
from adnkit.data.insplad import INSPLAD_ASSETS, verify_insplad
from adnkit.data.mvtec import MVTEC_CATEGORIES, download_mvtec, verify_mvtec
from adnkit.data.samples import Sample, Split
from adnkit.data.sources import CatalogRow, DataSource, data_sources, register_source, spec_prefixes, unregister_source
from adnkit.data.specs import expand_specs, load_split, open_split, parse_spec, spec_names
from adnkit.data.synthetic import make_synthetic

__all__ = [
    "Sample", "Split", "load_split", "open_split", "parse_spec", "read_image", "read_mask", "read_mask_file",
    "spec_names", "expand_specs", "ImageDataset",
    "make_synthetic", "validate_split", "verify_mvtec", "verify_insplad", "download_mvtec", "DataWarning",
    "IMAGE_EXTENSIONS", "MVTEC_CATEGORIES", "INSPLAD_ASSETS",
    "DataSource", "CatalogRow", "register_source", "unregister_source", "data_sources", "spec_prefixes",
]
