"""`adnkit data ...`: list, describe, verify, make and fetch datasets.

    adnkit data list [--data-root DIR]                     every source's datasets and which are present
    adnkit data describe SPEC                              images per split and defect, sizes and modes
    adnkit data verify mvtec|insplad ROOT                  expected against found counts (exit 1 if off)
    adnkit data synth NAME [--kind object] [--n-train 60]  make a synthetic set under <data_root>/synthetic
    adnkit data download mvtec [--data-root DIR] [--url URL] [--sha256 HEX] [--categories bottle ...]

The main CLI calls `add_data_parser(subparsers)` and then `args.func(args)`; handlers return an exit code and
raise DataError for mistakes a person can fix (printed as one line, exit status 2).
"""

from __future__ import annotations

import argparse
from argparse import SUPPRESS, BooleanOptionalAction
from collections import Counter
from pathlib import Path

import pandas as pd
from PIL import Image

from adnkit.cli.help import Formatter
from adnkit.config.settings import Config
from adnkit.core.errors import DataError
from adnkit.data.insplad import verify_insplad
from adnkit.data.mvtec import MVTEC_CATEGORIES, MVTEC_URL_ENV, download_mvtec, mvtec_root, verify_mvtec
from adnkit.data.samples import Split
from adnkit.data.sources import CatalogRow, catalog
from adnkit.data.specs import load_split
from adnkit.data.synthetic import SYNTHETIC_DEFECTS, SYNTHETIC_KINDS, synthetic_set

DEFAULT_ROOT = Config.__dataclass_fields__["data_root"].default


def _print_table(table: pd.DataFrame) -> None:
    with pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False))


def cmd_list(args) -> int:
    """Every registered source's datasets and categories, and which are present under --data-root."""
    root = Path(args.data_root)
    _print_table(pd.DataFrame(catalog(root), columns=list(CatalogRow._fields)))
    print(f"data root: {root.resolve()}  (synthetic sets are made on first use; elpv installs with "
          f"`pip install elpv-dataset`; see data/README.md for the others)")
    return 0


def describe_split(split: Split) -> pd.DataFrame:
    """Images per split and defect with their sizes and modes (read from the file headers, fast)."""
    rows = []
    for part, samples in (("train", split.train), ("val", split.val), ("test", split.test)):
        groups: dict[str, list] = {}
        for s in samples:
            groups.setdefault(s.defect, []).append(s)
        for defect, group in sorted(groups.items(), key=lambda kv: (kv[0] != "good", kv[0])):
            sizes, modes = Counter(), Counter()
            for s in group:
                with Image.open(s.path) as img:
                    sizes[f"{img.width}x{img.height}"] += 1
                    modes[img.mode] += 1
            top = ", ".join(f"{k} ({v})" if len(sizes) > 1 else k for k, v in sizes.most_common(3))
            rows.append({"split": part, "defect": defect, "label": group[0].label, "images": len(group),
                         "masks": sum(s.mask is not None for s in group),
                         "sizes": top + (f", +{len(sizes) - 3} more" if len(sizes) > 3 else ""),
                         "modes": ", ".join(sorted(modes))})
    return pd.DataFrame(rows)


def cmd_describe(args) -> int:
    cfg = Config(data=args.spec, data_root=args.data_root, skip_bad_images=bool(args.skip_bad_images),
                 min_image_side=args.min_image_side, val_fraction=args.val_fraction, batch_size=args.batch_size)
    split = load_split(cfg)
    print(f"{split.name}  (dataset {split.dataset}, category {split.category})")
    _print_table(describe_split(split))
    n_bad = sum(s.label for s in split.test)
    val = f", val {len(split.val)}" if split.val else ""
    print(f"train {len(split.train)}{val}, test {len(split.test)} (good {len(split.test) - n_bad}, defective {n_bad})"
          + (f", skipped {len(split.ignored)} bad image(s)" if split.ignored else ""))
    return 0


def cmd_verify(args) -> int:
    if args.dataset == "mvtec":
        table = verify_mvtec(args.root, args.categories)
    else:
        table = verify_insplad(args.root, args.categories)
    _print_table(table)
    bad = int((~table["ok"]).sum())
    print("all as expected" if not bad else f"{bad} of {len(table)} not as expected (see the columns above)")
    return 0 if not bad else 1


def cmd_synth(args) -> int:
    options = {k: v for k, v in dict(kind=args.kind, n_train=args.n_train, n_test_good=args.n_test_good,
                                      n_test_defect=args.n_test_defect, size=args.size, seed=args.seed,
                                      defects=tuple(args.defects) if args.defects else None,
                                      defect_scale=args.defect_scale, defect_opacity=args.defect_opacity).items()
               if v is not None}
    folder = Path(args.data_root) / "synthetic" / args.name
    if folder.exists() and not args.force:
        raise DataError(f"{folder}: exists already; use it as --data synthetic:{args.name}, or pass --force to "
                        f"make it again")
    out = synthetic_set(args.name, args.data_root, force=bool(args.force), **options)
    print(f"wrote {out}; use it with --data synthetic:{args.name} (or --data {out})")
    return 0


def cmd_download(args) -> int:
    """MVTec AD into <data-root>/mvtec, where `--data mvtec:CATEGORY` looks (or into the folder --root names)."""
    folder = Path(args.mvtec_folder or Path(args.data_root) / "mvtec")
    table = download_mvtec(folder, url=args.url, sha256=args.sha256, categories=args.categories,
                           keep_archive=bool(args.keep_archive), progress=not args.quiet)
    _print_table(table)
    print(f"MVTec AD (licence CC BY-NC-SA 4.0) is in {mvtec_root(folder)}; use --data mvtec:{folder}/CATEGORY")
    return 0


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """Add `data` and its sub-commands to an argparse sub-parser collection; return the `data` parser."""
    parser = subparsers.add_parser("data", help="list, describe, verify, make and download datasets",
                                   description=__doc__.split("\n\n")[0], formatter_class=Formatter)
    sub = parser.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", formatter_class=Formatter)

    def with_root(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-root", default=DEFAULT_ROOT, metavar="DIR", help=f"where datasets live [{DEFAULT_ROOT}]")
        return p

    p = with_root(command("list", help="known datasets and which are present under --data-root"))
    p.set_defaults(func=cmd_list)

    p = with_root(command("describe", help="images per split and defect, sizes and modes of a spec"))
    p.add_argument("spec", help="a folder, mvtec:ROOT/CAT, insplad:ROOT/ASSET, elpv:mono, synthetic:NAME, ...")
    p.add_argument("--skip-bad-images", action=BooleanOptionalAction,
                   help="skip unreadable or too-small images with a warning that counts them, as training does")
    p.add_argument("--min-image-side", type=int, default=Config.__dataclass_fields__["min_image_side"].default)
    p.add_argument("--val-fraction", type=float, default=Config.__dataclass_fields__["val_fraction"].default,
                   help="share of the training images held out for validation, as training does (0 = none)")
    p.add_argument("--batch-size", type=int, default=Config.__dataclass_fields__["batch_size"].default,
                   help="the training batch: the validation split must leave at least this many training images")
    p.set_defaults(func=cmd_describe)

    p = command("verify", help="check a dataset folder against the published image counts")
    p.add_argument("dataset", choices=["mvtec", "insplad"])
    p.add_argument("root", help="folder holding the categories (mvtec) or unsupervised_anomaly_detection (insplad)")
    p.add_argument("--categories", nargs="+", help="only these categories / assets")
    p.set_defaults(func=cmd_verify)

    p = with_root(command("synth", help="make a synthetic set in MVTec layout under <data-root>/synthetic"))
    p.add_argument("name", help="the set's name; by default its kind and seed follow from it")
    p.add_argument("--kind", choices=SYNTHETIC_KINDS, help="default: object if NAME contains 'object', else texture")
    p.add_argument("--n-train", type=int)
    p.add_argument("--n-test-good", type=int)
    p.add_argument("--n-test-defect", type=int)
    p.add_argument("--size", type=int, help="image side in px (default 256)")
    p.add_argument("--seed", type=int, help="default: the CRC-32 of NAME")
    p.add_argument("--defects", nargs="+", choices=SYNTHETIC_DEFECTS)
    p.add_argument("--defect-scale", type=float, help="draw defects this much smaller, 0.05-1 (default from NAME: "
                                                        "0.3 with 'small', 0.1 with 'fine', else 1)")
    p.add_argument("--defect-opacity", type=float, help="blend defects over the surface, 0.1-1 (default 1; 0.5 with "
                                                          "'fine')")
    p.add_argument("--force", action=BooleanOptionalAction, help="replace an existing set of that name")
    p.set_defaults(func=cmd_synth)

    p = command("download", help="download and unpack a dataset (opt-in; MVTec AD only)")
    p.add_argument("dataset", choices=["mvtec"])
    p.add_argument("--data-root", default=DEFAULT_ROOT, metavar="DIR",
                   help=f"where datasets live; MVTec AD goes to DIR/mvtec, where --data mvtec:CATEGORY looks "
                        f"[{DEFAULT_ROOT}]")
    p.add_argument("--root", dest="mvtec_folder", help=SUPPRESS)  # the MVTec folder itself: older scripts' spelling
    p.add_argument("--url", help=f"archive URL (default: ${MVTEC_URL_ENV}, else adnkit.data.mvtec.MVTEC_URL)")
    p.add_argument("--sha256", help="expected sha256 of the archive (without it the digest is printed, unchecked)")
    p.add_argument("--categories", nargs="+", choices=list(MVTEC_CATEGORIES), metavar="CATEGORY",
                   help=f"unpack only these: {', '.join(MVTEC_CATEGORIES)}")
    p.add_argument("--keep-archive", action=BooleanOptionalAction, help="keep the .tar.xz after unpacking")
    p.add_argument("--quiet", action=BooleanOptionalAction, help="no progress bar")
    p.add_argument("--no-progress", dest="quiet", action="store_const", const=True, help=SUPPRESS)  # older spelling
    p.set_defaults(func=cmd_download)
    return parser
