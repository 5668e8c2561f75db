"""The `adnkit` command: train, score, export, explain, bench, demo, study and data.

Every Config field is a flag of the same name (`image_size` -> `--image-size`) on train, bench, demo and study,
which also take --config FILE and --print-config (adnkit.cli.settings). Mistakes a person can fix end with one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from adnkit.attention.registry import allow_import, is_module_path, module_of
from adnkit.cli.data import add_data_parser
from adnkit.cli.help import Formatter, Parser
from adnkit.cli.settings import (
    add_settings_flags,
    default_preset,
    print_settings,
    settings_from_args,
    switch_spelling,
)
from adnkit.config import Config
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


def add_allow_import_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-import", action="append", default=[], metavar="MODULE",
                        help="let adnkit import MODULE for an attention block MODULE:Class; repeatable (also "
                             "ADNKIT_ALLOW_IMPORT=mod1,mod2)")


def allow_imports(args: argparse.Namespace) -> None:
    """--allow-import MODULE, and the module of an `--attention MODULE:Class` typed on train or bench."""
    typed = {"train": [getattr(args, "cfg_attention", None)], "bench": getattr(args, "attention", [])}
    modules = [module_of(a) for a in typed.get(args.command, []) if a and is_module_path(a)]
    allow_import(*getattr(args, "allow_import", []), *modules)


def require(args: argparse.Namespace, **flags: str) -> None:
    """Flags a command needs unless it only prints its settings: {dest: "--out DIR: what it is"}."""
    for dest, text in flags.items():
        if not getattr(args, dest):
            raise AdnkitError(f"adnkit {args.command} needs {text}")


def cmd_train(args) -> int:
    cfg = settings_from_args(args)
    if args.print_config:
        return print_settings(cfg, args.print_config)
    require(args, out="--out DIR, the run folder to write")
    # --resume continues the run in --out with its own settings; only --device may change (adnkit.training.state)
    metrics = train(cfg, args.out, resume=bool(args.resume), progress=not args.quiet)
    print(f"{args.out}: AUROC {100 * metrics['auroc_last']:.1f}% (last model), best {100 * metrics['auroc_best']:.1f}% "
          f"at meta epoch {metrics['best_epoch']} (max over test evaluations, optimistic); "
          f"{metrics['train_images_per_s']:.1f} train img/s, {metrics['test_images_per_s']:.1f} test img/s")
    return 0


def cmd_score(args) -> int:
    detector = open_detector(args.run_dir, device=args.device)  # a run folder, or an .onnx file from `adnkit export`
    table = detector.score_files(args.images, progress=not args.quiet)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(score_lines(table))
    print(detector.threshold_source())
    return 0


def score_lines(table: pd.DataFrame) -> str:
    """One line per image: its path, its score and its decision, in aligned columns."""
    paths = table["path"].astype(str)
    scores = [f"{s:.4f}" for s in table["score"]]
    width, score_width = paths.str.len().max(), max(map(len, scores))
    return "\n".join(f"{p:<{width}}  score {s:>{score_width}}  {d}"
                     for p, s, d in zip(paths, scores, table["decision"], strict=True))


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
        base = settings_from_args(args)
    except ConfigError:
        if not grid:
            raise
        # e.g. --scales 4 --grid image_size=512,640 at a 256 px preset: the base is invalid, but every cell
        # sets image_size itself. The swept fields take their first grid value in the base (it never runs).
        base = settings_from_args(args, **{field: values[0] for field, values in grid.items()})
    if args.print_config:
        return print_settings(base, args.print_config)
    require(args, data="--data SPEC [SPEC ...], the datasets", out="--out DIR, the benchmark folder to write")
    return _bench(args.data, args.attention, args.seeds, base, Path(args.out), not args.quiet,
                  executor_from_args(args), grid=grid)


def cmd_demo(args) -> int:
    """The README's main job (adnkit.experiments.demo): DifferNet vs SE vs CBAM on the embedded ELPV solar cells at
    the demo preset, one seed each."""
    base = settings_from_args(args)
    if args.print_config:
        return print_settings(base, args.print_config)
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
    base = settings_from_args(args)
    if args.print_config:
        return print_settings(base, args.print_config)
    require(args, data="--data SPEC [SPEC ...], the datasets", out="--out DIR, the benchmark folder to write")
    specs = expand_specs(list(args.data), base.data_root)
    started = time.perf_counter()
    trained_seeds = None if args.trained_seeds is None else range(args.trained_seeds)
    table = attention_study(specs, range(args.seeds), base, Path(args.out), progress=not args.quiet,
                            spread_images=args.spread_images, preset_name=args.preset or default_preset(),
                            trained_seeds=trained_seeds, executor=executor_from_args(args))
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
    parser = Parser(prog="adnkit", description=__doc__.split("\n\n")[0], formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"adnkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_commands(sub)
    _add_matrix_commands(sub)
    add_data_parser(sub)
    return parser


def _command(sub, name: str, help: str, usage: str | None = None) -> argparse.ArgumentParser:
    """A sub-command whose description is its help line, with adnkit's formatter and one-line errors."""
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", usage=usage,
                          formatter_class=Formatter)


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action=argparse.BooleanOptionalAction, help="no progress bars")


def _add_run_commands(sub) -> None:
    """train, score, export and explain: one run folder each."""
    p = _command(sub, "train", "train DifferNet / AttentDifferNet on one dataset and write a run folder",
                 usage="%(prog)s --out DIR [--resume] [--config FILE] [--preset NAME] [--SETTING VALUE ...]")
    p.add_argument("--out", metavar="DIR", help="run folder to write (settings, metrics, weights, test scores)")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction,
                   help="continue the run in --out from its last checkpoint, with its own settings")
    add_quiet_flag(p)
    add_allow_import_flag(p)
    add_settings_flags(p)
    p.set_defaults(func=cmd_train)

    p = _command(sub, "score", "score new images with a trained run (or its .onnx export)")
    p.add_argument("run_dir", help="a run folder written by `adnkit train`, or an .onnx file from `adnkit export`")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--device", metavar="DEVICE", default="auto", help="auto, cpu, cuda or cuda:N [auto]")
    p.add_argument("--csv", metavar="FILE", help="also write the scores to this CSV file")
    add_quiet_flag(p)
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_score)

    p = _command(sub, "export", "export a trained run to one ONNX file (uint8 images -> scores) for onnxruntime")
    p.add_argument("run_dir", help="a run folder written by `adnkit train`")
    p.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--opset", type=int, metavar="INT", help="ONNX opset, 16 or later [torch's exporter's]")
    p.add_argument("--batch", default="dynamic", metavar="N",
                   help="dynamic (any number of images per call) or a fixed N [dynamic]")
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_export)

    p = _command(sub, "explain", "write Grad-CAM / gradient-map overlays (PNG) for images")
    p.add_argument("run_dir", help="a run folder written by `adnkit train`")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--compare", nargs="+", default=[], metavar="RUN_DIR",
                   help="more run folders (e.g. the SE and CBAM runs): overlays side by side per image")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")
    p.add_argument("--method", default="gradcam", metavar="NAME",
                   help="gradcam, gradcam++, xgradcam, layercam or gradients [gradcam]")
    p.add_argument("--layer", default="last", metavar="SLOT",
                   help="backbone slot position (1, 4, 11; 2, 5, 12 for --attention-site pool) or last [last]")
    p.add_argument("--device", metavar="DEVICE", default="auto", help="auto, cpu, cuda or cuda:N [auto]")
    add_allow_import_flag(p)
    p.set_defaults(func=cmd_explain)


MATRIX_USAGE = "%(prog)s --data SPEC [SPEC ...] --out DIR [--config FILE] [--preset NAME] [--SETTING VALUE ...]"


def _add_matrix_commands(sub) -> None:
    """bench, demo and study: many runs in one benchmark folder."""
    p = _command(sub, "bench", "run datasets x categories x attention x seeds and write results and a report",
                 usage=MATRIX_USAGE)
    p.add_argument("--data", nargs="+", metavar="SPEC",
                   help="dataset specs (elpv:mono, mvtec:ROOT, synthetic:NAME, ...)")
    p.add_argument("--attention", nargs="+", default=list(DEMO_ATTENTIONS), metavar="NAME",
                   help=f"the variants [{' '.join(DEMO_ATTENTIONS)}]")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 0..N-1 per cell [1]")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help="another axis: any setting and its values, e.g. --grid train_attention=false,true or "
                        "--grid attention_positions='1,4,11|2,5,12' (tuple values separated by '|'); repeatable")
    p.add_argument("--out", metavar="DIR", help="the benchmark folder to write")
    add_quiet_flag(p)
    add_allow_import_flag(p)
    add_executor_flags(p)
    add_settings_flags(p, skip=("data", "attention", "seed"))
    p.set_defaults(func=cmd_bench)

    p = _command(sub, "demo", "the main job: DifferNet vs SE vs CBAM on the embedded ELPV solar cells, one seed "
                              "each, at the demo preset",
                 usage="%(prog)s [--out DIR] [--config FILE] [--preset NAME] [--SETTING VALUE ...]")
    p.add_argument("--out", default="runs/demo", metavar="DIR", help="the benchmark folder to write [runs/demo]")
    add_quiet_flag(p)
    add_allow_import_flag(p)
    add_executor_flags(p)
    add_settings_flags(p, skip=("data", "attention", "seed"))
    p.set_defaults(func=cmd_demo, preset=DEMO_PRESET)

    p = _command(sub, "study", "answer a question with a prepared ablation: `study attention` (does attention "
                               "help, in which reading, and why)",
                 usage="%(prog)s attention " + MATRIX_USAGE.removeprefix("%(prog)s "))
    p.add_argument("question", choices=["attention"],
                   help="attention: none / SE / CBAM x site relu|pool x frozen | trained | trained + guard")
    p.add_argument("--data", nargs="+", metavar="SPEC", help="dataset specs (elpv:mono, mvtec:ROOT, ...)")
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="seeds 0..N-1 per cell (0 with --trained-seeds N: the trained variants alone) [1]")
    p.add_argument("--trained-seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1 for the trained variants, which cannot use the feature cache and cost far "
                        "more (0: only the variants without training, which a later call adds to) [--seeds]")
    p.add_argument("--out", metavar="DIR", help="the benchmark folder to write")
    p.add_argument("--spread-images", type=int, default=128, metavar="N",
                   help="training images the feature spread is measured on [128]")
    add_quiet_flag(p)
    add_allow_import_flag(p)
    add_executor_flags(p)
    add_settings_flags(p, skip=STUDY_FIXED)
    p.set_defaults(func=cmd_study)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(switch_spelling(sys.argv[1:] if argv is None else list(argv)))
    if unknown:  # argparse would name the top-level command's help; name the sub-command's
        command = " ".join(filter(None, ("adnkit", args.command, getattr(args, "data_command", None))))
        print(f"adnkit: error: unrecognized arguments: {' '.join(unknown)}; see `{command} --help`", file=sys.stderr)
        return 2
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
