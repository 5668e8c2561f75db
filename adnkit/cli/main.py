"""The `adnkit` command: train, score, export, bench, demo, explain, data.

Every Config field is a flag of the same name (`image_size` -> `--image-size`) on train and bench. Mistakes a
person can fix end with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from adnkit.attention.registry import allow_import, is_module_path, module_of
from adnkit.cli.data import add_data_parser
from adnkit.config import PRESETS, Config, field_docs, group_fields, parse_value, preset
from adnkit.config.checks import flag
from adnkit.core.errors import AdnkitError, ConfigError
from adnkit.core.version import __version__
from adnkit.data import expand_specs
from adnkit.evaluation.summary import summarize
from adnkit.experiments.bench import benchmark
from adnkit.experiments.demo import DEMO_ATTENTIONS, DEMO_DATA, DEMO_PRESET, set_aside_if_other
from adnkit.experiments.executors import add_executor_flags, executor_from_args
from adnkit.experiments.folder import BenchFolder
from adnkit.experiments.grid import parse_grid
from adnkit.experiments.report import write_report
from adnkit.experiments.study import attention_study
from adnkit.experiments.study_answer import format_study
from adnkit.experiments.tables import paired_table
from adnkit.experiments.terminal import format_paired, format_summary
from adnkit.explain.files import write_explanations
from adnkit.export.onnx_detector import open_detector
from adnkit.export.onnx_export import export_onnx
from adnkit.training.trainer import train


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """--preset and one flag per Config field (strings parsed to the field's type later), grouped by concern."""
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS),
                        help="named settings: paper (the papers' values, GPU), cpu (minutes), demo (cpu at 160 px), "
                             "ci (seconds)")
    presets = {name: preset(name) for name in PRESETS}
    for concern, names in group_fields().items():
        group = parser.add_argument_group(f"{concern} settings (override the preset; adnkit/config/{concern}.py)")
        for name in names:
            if name not in skip:
                group.add_argument(flag(name), dest=f"cfg_{name}", metavar="VALUE", default=None,
                                   help=_field_doc(name, presets))


def _field_doc(name: str, presets: dict[str, Config], default_preset: str = "cpu") -> str:
    """The field's docstring and its value under each preset, the one that applies first (train, bench and
    demo default to --preset cpu): "... [cpu preset: 160; paper: 448; ci: 128]", or "[every preset: 0.0002]"."""
    def shown(value) -> str:
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return (text or "''").replace("%", "%%")  # argparse %-formats help texts

    order = (default_preset, *(p for p in presets if p != default_preset))
    values = {p: shown(getattr(presets[p], name)) for p in order}
    if len(set(values.values())) == 1:
        where = f"every preset: {values[default_preset]}"
    else:
        where = "; ".join(f"{p}{' preset' if p == default_preset else ''}: {v}" for p, v in values.items())
    return f"{field_docs().get(name, '')} [{where}]".strip()


def add_allow_import_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-import", action="append", default=[], metavar="MODULE",
                        help="let adnkit import MODULE for an attention block named MODULE:Class (in a run's "
                             "config.json or a setting); repeatable. Also: ADNKIT_ALLOW_IMPORT=mod1,mod2")


def allow_imports(args: argparse.Namespace) -> None:
    """--allow-import MODULE, and the module of an `--attention MODULE:Class` typed on train or bench."""
    typed = {"train": [getattr(args, "cfg_attention", None)], "bench": getattr(args, "attention", [])}
    modules = [module_of(a) for a in typed.get(args.command, []) if a and is_module_path(a)]
    allow_import(*getattr(args, "allow_import", []), *modules)


def config_from_args(args: argparse.Namespace, **fixed) -> Config:
    """The preset with the flags given on the command line, then `fixed` over both."""
    overrides = {k[4:]: parse_value(k[4:], v) for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}
    return preset(args.preset, **{**overrides, **fixed})


def cmd_train(args) -> int:
    # --resume continues the run in --out with its own settings; only --device may change (adnkit.training.state)
    metrics = train(config_from_args(args), args.out, resume=args.resume, progress=not args.quiet)
    print(f"{args.out}: AUROC last {metrics['auroc_last']:.4f}, best {metrics['auroc_best']:.4f} "
          f"(meta epoch {metrics['best_epoch']}; best = max over test evaluations, as in the papers); "
          f"{metrics['train_images_per_s']:.1f} train img/s, {metrics['test_images_per_s']:.1f} test img/s")
    return 0


def cmd_score(args) -> int:
    detector = open_detector(args.run_dir, device=args.device)  # a run folder, or an .onnx file from `adnkit export`
    table = detector.score_files(args.images, progress=not args.quiet)
    if args.csv:
        table.to_csv(args.csv, index=False)
    with_pd_options(lambda: print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}")))
    print(detector.threshold_source())
    return 0


def cmd_export(args) -> int:
    out = export_onnx(args.run_dir, args.out, opset=args.opset, batch=args.batch)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB; score with `adnkit score {out} IMAGES...` or onnxruntime alone "
          "(examples/score_onnx.py)")
    return 0


def with_pd_options(fn):
    with pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 120):
        return fn()


def _bench(specs, attentions, seeds: int, base: Config, out: Path, progress: bool, executor=None,
           grid=None) -> int:
    specs = expand_specs(list(specs), base.data_root)
    results = benchmark(specs, list(attentions), list(range(seeds)), base, out, progress=progress,
                        executor=executor, grid=grid)
    report = write_report(out)
    ok = results[results["status"] == "ok"] if "status" in results else results
    if len(ok):
        variant_cols = BenchFolder(out).grid_columns()
        with_pd_options(lambda: print(format_summary(summarize(ok, variant_cols=variant_cols), ok)))
        print(format_paired(paired_table(ok, variant_cols), ok))
    failed = len(results) - len(ok)
    if failed:
        print(f"{failed} run(s) failed; reasons in {BenchFolder(out).results_file}")
    print(f"report: {report}")
    return 0 if len(ok) else 1


def cmd_bench(args) -> int:
    grid = parse_grid(args.grid)  # before anything runs: a typo in --grid fails at once
    try:
        base = config_from_args(args)
    except ConfigError:
        if not grid:
            raise
        # e.g. --scales 4 --grid image_size=512,640 at a 256 px preset: the base is invalid, but every cell
        # sets image_size itself. The swept fields take their first grid value in the base (it never runs).
        base = config_from_args(args, **{field: values[0] for field, values in grid.items()})
    return _bench(args.data, args.attention, args.seeds, base, Path(args.out), not args.quiet,
                  executor_from_args(args), grid=grid)


def cmd_demo(args) -> int:
    """The README's main job (adnkit.experiments.demo): DifferNet vs SE vs CBAM on the embedded ELPV solar cells."""
    base = config_from_args(args)
    moved = set_aside_if_other(args.out, base)
    if moved is not None:
        print(f"adnkit demo: {args.out} was made with other settings ({', '.join(moved[1])}); moved it to {moved[0]}")
    print(f"adnkit demo: {', '.join(DEMO_DATA)} x {', '.join(DEMO_ATTENTIONS)} at preset {args.preset!r} -> {args.out}")
    return _bench(DEMO_DATA, DEMO_ATTENTIONS, 1, base, Path(args.out), not args.quiet, executor_from_args(args))


STUDY_FIXED = (
    "data",
    "attention",
    "seed",
    "attention_site",
    "attention_positions",
    "train_attention",
    "embedding_norm",
)


def cmd_study(args) -> int:
    """adnkit study attention: the ablation of adnkit.experiments.study, then its table and the report's path."""
    base = config_from_args(args)
    specs = expand_specs(list(args.data), base.data_root)
    started = time.perf_counter()
    trained_seeds = None if args.trained_seeds is None else range(args.trained_seeds)
    table = attention_study(specs, range(args.seeds), base, Path(args.out), progress=not args.quiet,
                      spread_images=args.spread_images, preset_name=args.preset, trained_seeds=trained_seeds,
                      executor=executor_from_args(args))
    with_pd_options(lambda: print(format_study(table)))
    table_file, text_file = BenchFolder(args.out).study_files
    print(text_file.read_text().strip())
    print(f"study: {table_file}; report: {BenchFolder(args.out).report_file} ({time.perf_counter() - started:.0f} s)")
    return 0 if len(table) else 1


def cmd_explain(args) -> int:
    paths = write_explanations([args.run_dir, *args.compare], args.images, args.out, method=args.method,
                               layer=args.layer, device=args.device)
    for p in paths:
        print(p)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adnkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"adnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_commands(sub)
    _add_matrix_commands(sub)
    add_data_parser(sub)
    return parser


def _add_run_commands(sub) -> None:
    """train, score, export and explain: one run folder each."""
    p = sub.add_parser("train", help="train DifferNet / AttentDifferNet on one dataset and write a run folder")
    p.add_argument(
        "--out", required=True, help="run folder to write (settings, metrics, weights, test scores, history)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_config_flags(p)
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score new images with a trained run (or its .onnx export)")
    p.add_argument("run_dir", help="a run folder written by `adnkit train`, or an .onnx file from `adnkit export`")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--device", default="auto")
    p.add_argument("--csv", help="also write the table to this CSV file")
    p.add_argument("--quiet", action="store_true")
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("export", help="export a trained run to one ONNX file (uint8 images -> scores) for onnxruntime")
    p.add_argument("run_dir", help="a run folder written by `adnkit train`")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: torch's exporter's; 16 or later)")
    p.add_argument("--batch", default="dynamic", help="'dynamic' (any number of images per call) or a fixed N")
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("explain", help="write Grad-CAM / gradient-map overlays (PNG) for images")
    p.add_argument("run_dir", help="a run folder written by `adnkit train`")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--compare", nargs="+", default=[], metavar="RUN_DIR",
                   help="more run folders (e.g. the SE and CBAM runs): overlays side by side per image")
    p.add_argument("--out", required=True)
    p.add_argument("--method", default="gradcam", help="gradcam, gradcam++, xgradcam, layercam or gradients")
    p.add_argument("--layer", default="last",
                   help="backbone slot position (1, 4, 11; 2, 5, 12 for --attention-site pool) or 'last'")
    p.add_argument("--device", default="auto")
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_explain)


def _add_matrix_commands(sub) -> None:
    """bench, demo and study: many runs in one benchmark folder."""
    p = sub.add_parser("bench", help="run datasets x categories x attention x seeds and write results + report.html")
    p.add_argument("--data", nargs="+", required=True, help="dataset specs (elpv, mvtec:ROOT, synthetic:NAME, ...)")
    p.add_argument("--attention", nargs="+", default=list(DEMO_ATTENTIONS), help="variants, e.g. none se cbam")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per cell")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help="another axis: any setting and its values, e.g. --grid train_attention=false,true or "
                        "--grid attention_positions='1,4,11|2,5,12' (tuple values separated by '|'); repeatable")
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    add_config_flags(p, skip=("data", "attention", "seed"))
    add_executor_flags(p)
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "demo", help="the main job: DifferNet vs SE vs CBAM on the embedded ELPV solar cells, one seed each"
    )
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--quiet", action="store_true")
    add_config_flags(p, skip=("data", "attention", "seed"))
    add_executor_flags(p)
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_demo, preset=DEMO_PRESET)

    p = sub.add_parser("study", help="answer a question with a prepared ablation: `study attention` (does attention "
                                     "help, in which reading, and why)")
    p.add_argument("question", choices=["attention"],
                   help="attention: none / SE / CBAM x site relu|pool x frozen | trained | trained + guard")
    p.add_argument("--data", nargs="+", required=True, help="dataset specs (elpv:mono, mvtec:ROOT, ...)")
    p.add_argument("--seeds", type=int, default=1,
                   help="seeds 0..N-1 per cell (0 with --trained-seeds N: the trained variants alone)")
    p.add_argument("--trained-seeds", type=int, default=None,
                   help="seeds 0..N-1 for the trained variants, which cannot use the feature cache and cost far "
                        "more (default: --seeds; 0: only the variants without training, which a later call adds to)")
    p.add_argument("--out", required=True)
    p.add_argument("--spread-images", type=int, default=128, help="training images the feature spread is measured on")
    p.add_argument("--quiet", action="store_true")
    add_config_flags(p, skip=STUDY_FIXED)
    add_executor_flags(p)
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_study)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        allow_imports(args)
        return int(args.func(args) or 0)
    except AdnkitError as err:
        print(f"adnkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        hint = f"; continue with `adnkit train --resume --out {out}`" if args.command == "train" else ""
        print(f"adnkit: interrupted; finished meta epochs are checkpointed{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
