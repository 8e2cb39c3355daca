"""Headless command line: ``check`` (shape report and pre-flight cost, app.cli_check),
``presets`` (list), ``train``,
``evaluate`` (a checkpoint or an ensemble), ``export`` (code, training script, ONNX,
TorchScript, weights, bundle) and ``import`` (a PyTorch model); with no command, or a file or
preset alone, the window."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.serialization import Project
    from app.core.training.config import TrainConfig

PRESET_PREFIX = "presets:"


class SourceError(Exception):
    """A FILE or presets:NAME argument cannot be opened; the message says why."""


def open_source(spec: str) -> Project:
    """Open a project file, or build ``presets:NAME``."""
    from app.core.serialization import ProjectFileError, load

    if spec.startswith(PRESET_PREFIX):
        import presets

        try:
            p = presets.get(spec[len(PRESET_PREFIX) :])
        except presets.UnknownPresetError as exc:
            raise SourceError(str(exc)) from None
        return p.project()
    try:
        project = load(spec)
    except ProjectFileError as exc:
        raise SourceError(str(exc)) from None
    for note in project.notes:  # what the loader repaired (renamed ids, replaced characters)
        print(f"note: {note}", file=sys.stderr)
    return project


# the check command lives in app.cli_check, which imports open_source from here: after it
from app.cli_check import add_check_parser, human  # noqa: E402


def cmd_presets(args: argparse.Namespace) -> int:
    import presets
    from app.core.shapes import check

    if args.save:
        return _save_preset(args.save, args.name)
    found, problems = presets.all_presets()
    rows = [("name", "title", "input", "params", "MACs", "tags")]
    for p in found:
        report = check(p.build())
        rows.append(
            (
                p.name,
                p.title,
                p.input,
                f"{report.total_params:,}",
                human(report.total_macs),
                ", ".join(p.tags),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            c.rjust(w) if j in (3, 4) else c.ljust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    for problem in problems:
        print(f"warning: user preset skipped: {problem}", file=sys.stderr)
    return 0


def _save_preset(source: str, name: str | None) -> int:
    from presets.user import UserPresetError, save_user_preset

    if not name:
        print("error: --save needs --name NAME", file=sys.stderr)
        return 2
    try:
        path = save_user_preset(open_source(source), name)
    except (SourceError, UserPresetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"saved user preset {name!r} to {path}; open it as presets:{name}")
    return 0


def _setting_flags(args: argparse.Namespace) -> dict:
    """The training settings given as flags (those of :func:`_add_config_flags`)."""
    from app.core.training.config import settings

    return {
        p.name: getattr(args, p.name) for p in settings() if getattr(args, p.name, None) is not None
    }


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per training setting, generated from the config's field specs."""
    from app.core.training.config import option_registry, setting_groups, settings

    specs = {p.name: p for p in settings()}
    for group, names in setting_groups().items():
        section = parser.add_argument_group(group.lower())
        for name in names:
            p = specs[name]
            flag = "--" + name.replace("_", "-")
            help_text = f"{p.help} [default: {p.default}]"
            if p.kind == "bool":
                section.add_argument(
                    flag,
                    dest=name,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=p.help,
                )
            elif p.kind == "choice":
                registry = option_registry(name)
                if registry is not None:  # each option's line: what it does
                    help_text += "; " + "; ".join(registry.describe().splitlines())
                section.add_argument(flag, dest=name, choices=p.choices, help=help_text)
            elif p.kind == "ints":
                section.add_argument(
                    flag, dest=name, type=_int_list, metavar="N,N,…", help=help_text
                )
            else:
                kind = {"int": int, "float": float, "text": str}[p.kind]
                section.add_argument(flag, dest=name, type=kind, help=help_text)


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"expected numbers separated by commas, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.core.training.config import ConfigError, TrainConfig
    from app.core.training.rundir import RunDir
    from app.core.training.train_cli import run_training

    source = args.source
    run = RunDir(Path(args.resume), create=False) if args.resume else None
    if run is not None:  # the run's own graph and settings; flags may still change some
        source = source or str(run.project_file)
    if not source:
        print("error: give a project file or presets:NAME (or --resume RUN_DIR)", file=sys.stderr)
        return 2
    try:
        project = open_source(source)
        base = project.training
        if run is not None:
            base = json.loads(run.config_file.read_text(encoding="utf-8"))
    except (SourceError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    overrides = _setting_flags(args)
    try:
        config = TrainConfig.from_dict({**base, **overrides})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not source.startswith(PRESET_PREFIX) and "weights" not in overrides:
        config = config.with_paths_from(Path(source).parent)
    if not args.adapt:  # before any data is loaded: say how to make it fit
        from app.core.shapes import check
        from app.core.training.fit import dataset_problem, fitting_dataset

        report = check(project.graph)
        problem = dataset_problem(config.dataset, report)
        if problem:
            fitting = fitting_dataset(report)
            switch = f"--dataset {fitting} (built-in, fits) or " if fitting else ""
            print(
                f"error: {problem}: use {switch}--adapt (fits the Input and the classifier "
                f"to {config.dataset})",
                file=sys.stderr,
            )
            return 1
    if args.train_last is not None:  # fine-tuning: freeze the parts before the last N
        from app.core.training.fine_tune import describe_learning, train_last

        for nid, value in train_last(project.graph, args.train_last, args.backbone_lr).items():
            project.graph.set_learning(nid, value)
        print(describe_learning(project.graph) or "every layer trains")
    if args.lr_find or args.overfit_batch:
        return _diagnose(project, config, lr_find=args.lr_find)
    return run_training(
        project, config, runs=args.runs, resume=args.resume, adapt=args.adapt, name=source
    )


def _diagnose(project: Project, config: TrainConfig, *, lr_find: bool) -> int:
    from app.core.training.data import DatasetError
    from app.core.training.diagnostics import lr_range_test, overfit_one_batch
    from app.core.training.errors import TrainingFailure

    try:
        if lr_find:
            result = lr_range_test(project.graph, config)
            print("LR range test (loss smoothed):")
            for lr, loss in list(zip(result.lrs, result.losses, strict=True))[::5]:
                print(f"  lr {lr:9.2e}  loss {loss:.4f}")
            print(f"suggested learning rate: {result.suggested:.3g} (steepest descent)")
            return 0
        result = overfit_one_batch(project.graph, config)
    except (TrainingFailure, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verdict = "PASSED" if result.passed else "FAILED"
    print(
        f"overfit one batch: {verdict}: loss {result.first_loss:.4f} → {result.final_loss:.4f} "
        f"in {result.steps} steps, batch accuracy {result.accuracy:.2%}"
    )
    if not result.passed:
        print(
            "the network cannot fit a single batch: check the learning rate, the loss of "
            "information (too much pooling?) and the last layer",
            file=sys.stderr,
        )
    return 0 if result.passed else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from app.core.training.config import ConfigError, TrainConfig
    from app.core.training.data import DatasetError
    from app.core.training.diagnostics import evaluate_checkpoints
    from app.core.training.errors import TrainingFailure

    try:
        project = open_source(args.source)
        config = TrainConfig.from_dict({**project.training, **_setting_flags(args)})
        result = evaluate_checkpoints(project.graph, config, args.checkpoint)
    except (SourceError, ConfigError, DatasetError, TrainingFailure, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # load_state_dict: weights of another network
        print(
            f"error: the checkpoint does not fit this network: {str(exc).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    what = "checkpoint" if len(args.checkpoint) == 1 else f"ensemble of {len(args.checkpoint)}"
    print(
        f"{what} on the validation set: loss {result.loss:.4f}  top-1 {result.acc:.4f}  "
        f"top-5 {result.top5:.4f}"
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Top classes of each image, from a run (or a project starting from pretrained weights)."""
    from pathlib import Path

    from app.core.training.predict import (
        PredictError,
        format_predictions,
        from_project,
        load_predictor,
    )

    try:
        if args.source.startswith(PRESET_PREFIX) or args.pretrained:
            project = open_source(args.source)
            if args.pretrained:
                project.training = {**project.training, "pretrained": args.pretrained}
            predictor = from_project(project, args.source)
        else:
            predictor = load_predictor(args.source, args.checkpoint or "")
        predictions = predictor.predict([Path(p) for p in args.images], args.top)
    except (PredictError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{predictor.source}:")
    print(format_predictions(predictions))
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    """torchvision's pretrained weight sets (of one model, or all), and which are cached."""
    from app.core.weight_sets import cache_folder, catalogue, for_model, is_cached

    model = args.model or ""
    if model.startswith(PRESET_PREFIX):
        import presets

        try:
            model = presets.get(model[len(PRESET_PREFIX) :]).torchvision or ""
        except KeyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not model:
            print(f"error: {args.model} has no torchvision counterpart", file=sys.stderr)
            return 1
    sets = for_model(model) if model else list(catalogue().values())
    if not sets:
        print(f"error: torchvision has no pretrained weights for {model!r}", file=sys.stderr)
        return 1
    for ws in sets:
        cached = " [cached]" if is_cached(ws) else ""
        print(f"{ws.summary}{' (default)' if ws.default else ''}{cached}")
        if model:
            print(f"  preprocessing: {ws.preprocessing}")
            print(f"  licence: {ws.licence}; recipe: {ws.recipe}")
    print(f"cache: {cache_folder()}")
    return 0


EXPORT_FORMATS = ("py", "train", "onnx", "torchscript", "program", "weights", "bundle")


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.core.export import artifacts
    from app.core.export.model_code import ExportError, export_model_code

    try:
        project = open_source(args.source)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    name = project.name or Path(args.source.removeprefix(PRESET_PREFIX)).stem
    project.name = name
    try:
        weights = artifacts.load_weights(args.checkpoint) if args.checkpoint else None
        if args.format == "py":
            out.write_text(export_model_code(project.graph, name), encoding="utf-8")
            print(f"wrote {out}: standalone PyTorch code (imports only torch)")
        elif args.format == "train":
            from app.core.export.train_script import export_training_script

            written = export_training_script(project, out)
            print(f"wrote {', '.join(str(p) for p in written)}")
        elif args.format == "weights":
            artifacts.export_weights(project.graph, out, weights)
            origin = f"from {args.checkpoint}" if weights else "freshly initialised"
            print(f"wrote {out}: state_dict ({origin})")
        elif args.format == "bundle":
            files = artifacts.export_bundle(project, out, Path(args.run) if args.run else None)
            print(f"wrote {out}: {', '.join(files)}")
        else:
            export = {
                "onnx": artifacts.export_onnx,
                "torchscript": artifacts.export_torchscript,
                "program": artifacts.export_program,
            }[args.format]
            result = export(project.graph, out, weights)
            checked = (
                "outputs not compared"
                if result.max_abs_diff is None
                else f"max difference from PyTorch {result.max_abs_diff:.2e}"
            )
            note = f"; {result.note}" if result.note else ""
            print(f"wrote {out}: {args.format}, checked ({checked}{note})")
    except (ExportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Trace a PyTorch model onto a project file, its weights beside it (FILE.pt)."""
    from pathlib import Path

    from app.core.imports.errors import ImportFailure

    try:
        shape = tuple(int(v) for v in args.input.split(","))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        print(f"error: --input must be C,H,W (e.g. 3,224,224), got {args.input!r}", file=sys.stderr)
        return 2
    out = Path(args.output)
    if out.suffix != ".json":
        print(f"error: -o must name a .json project file, got {out}", file=sys.stderr)
        return 2
    import torch

    from app.core.imports.fx_map import import_model
    from app.core.imports.sources import load_source
    from app.core.serialization import Project, save
    from app.core.torch_files import WeightsFileError, load_tensors

    try:
        model, name = load_source(args.source, args.args)
        if args.weights:
            try:
                state = load_tensors(args.weights)
            except WeightsFileError as exc:
                raise ImportFailure(str(exc)) from None
            _load_source_weights(model, state, args.weights)
        result = import_model(model, shape)  # type: ignore[arg-type]
    except ImportFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    weights = out.with_suffix(".pt")
    training = {"weights": weights.name}
    project = Project(result.graph, name, training=training)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.state, weights)
    save(project, out)
    for note in result.notes:
        print(f"note: {note}")
    n = result.native
    kept = sum(result.opaque.values())
    if kept:
        classes = ", ".join(f"{name} ×{count}" for name, count in result.opaque.items())
        print(
            f"imported {args.source}: {n + kept} nodes, {n} onto NetBuilder blocks, "
            f"{kept} opaque (kept whole: {classes})"
        )
    else:
        print(f"imported {args.source}: {n} nodes, all {n} onto NetBuilder blocks, no opaque node")
    if result.left_out:
        shown = ", ".join(result.left_out[:5])
        print(f"not carried ({len(result.left_out)} tensors of modules never called): {shown}")
    print(
        f"outputs equal the source model's (eval, 2 images): max |difference| "
        f"{result.max_abs_diff:.2e}"
    )
    print(f"wrote {out} and its weights {weights} ({len(result.state)} tensors)")
    return 0


def _load_source_weights(model, state, path: str) -> None:  # type: ignore[no-untyped-def]
    """``--weights``: a state dict loaded into the source model strictly by name."""
    from app.core.imports.errors import ImportFailure

    state = state.get("model", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ImportFailure(f"{path} holds a {type(state).__name__}, not a state dict")
    from app.core.compiler import weights_mismatch

    mismatch = weights_mismatch(model, state)
    if mismatch:
        raise ImportFailure(f"{path} does not fit the model by name: {mismatch}")
    model.load_state_dict(state, strict=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netbuilder",
        description="Design convolutional networks, check every tensor shape, export PyTorch.",
    )
    sub = parser.add_subparsers(dest="command")
    add_check_parser(sub)
    p_presets = sub.add_parser(
        "presets", help="list the preset architectures (built-in and yours), or save one"
    )
    p_presets.add_argument("--save", metavar="SOURCE", help="save a project file as a preset")
    p_presets.add_argument("--name", help="name for --save (lower-case letters, digits, _)")
    p_presets.set_defaults(func=cmd_presets)
    p_train = sub.add_parser(
        "train", help="train a network headless (settings from the project, then the flags)"
    )
    p_train.add_argument("source", nargs="?", help="a project file, or presets:NAME")
    p_train.add_argument("--runs", help="folder for run directories (default: user data)")
    p_train.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run")
    p_train.add_argument(
        "--adapt", action="store_true", help="fit the Input and the classifier to the dataset"
    )
    p_train.add_argument(
        "--lr-find", action="store_true", help="run the LR range test instead of training"
    )
    p_train.add_argument(
        "--train-last",
        type=int,
        metavar="N",
        help="fine-tuning: only the last N parts (stages, the classifier) train; the rest is "
        "frozen (1: only the classifier)",
    )
    p_train.add_argument(
        "--backbone-lr",
        type=float,
        default=1.0,
        metavar="X",
        help="with --train-last: the learning-rate multiplier of the trained parts before "
        "the classifier [default: 1]",
    )
    p_train.add_argument(
        "--overfit-batch",
        action="store_true",
        help="sanity check: train on one batch until it is memorised",
    )
    _add_config_flags(p_train)
    p_train.set_defaults(func=cmd_train)
    p_export = sub.add_parser("export", help="export code, a training script, or artifacts")
    p_export.add_argument("source", help="a project file, or presets:NAME")
    p_export.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="py",
        help="py: model code; train: model.py + train.py; onnx; torchscript; "
        "program (torch.export .pt2); weights (.pt); bundle (.zip)",
    )
    p_export.add_argument("-o", "--output", required=True, help="file (or folder for train)")
    p_export.add_argument("--checkpoint", help="weights to export (a checkpoint or state dict)")
    p_export.add_argument("--run", help="bundle: the run directory to include")
    p_export.set_defaults(func=cmd_export)
    p_eval = sub.add_parser(
        "evaluate", help="validation metrics of a checkpoint, or of an ensemble of them"
    )
    p_eval.add_argument("source", help="the project file (or presets:NAME) the weights belong to")
    p_eval.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        metavar="FILE.pt",
        help="a checkpoint or snapshot; repeat to average an ensemble",
    )
    _add_config_flags(p_eval)
    p_eval.set_defaults(func=cmd_evaluate)
    p_import = sub.add_parser(
        "import",
        help="trace a PyTorch model onto a project file (its weights in FILE.pt beside it)",
        description="SOURCE: torchvision:NAME (built without weights), FILE.py:Class or "
        "FILE.py:factory (called with --args), or FILE.py (its last nn.Module class, as in a "
        "file NetBuilder exported). Importing a .py file runs its code.",
    )
    p_import.add_argument("source", help="torchvision:NAME, FILE.py, FILE.py:Name")
    p_import.add_argument("-o", "--output", required=True, help="the project file (.json)")
    p_import.add_argument("--weights", help="a state dict for the source model (strict by name)")
    p_import.add_argument("--args", help='constructor arguments as JSON: {"num_classes": 10}')
    p_import.add_argument("--input", default="3,224,224", help="input shape C,H,W")
    p_import.set_defaults(func=cmd_import)
    p_predict = sub.add_parser(
        "predict",
        help="classify images: the top classes with their probabilities",
        description="SOURCE: a run folder (its best checkpoint, else its last), a checkpoint "
        "inside one, or a project / presets:NAME with --pretrained (torchvision's weights "
        "as published, with their class names).",
    )
    p_predict.add_argument("source", help="RUN_DIR, RUN_DIR/checkpoints/NAME.pt, or a project")
    p_predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p_predict.add_argument("--top", type=int, default=5, help="classes to show (default 5)")
    p_predict.add_argument("--checkpoint", choices=("best", "last"), help="of a run folder")
    p_predict.add_argument("--pretrained", metavar="WEIGHTS", help="a torchvision weight set")
    p_predict.set_defaults(func=cmd_predict)
    p_weights = sub.add_parser(
        "weights",
        help="torchvision's pretrained weight sets: accuracy, size, licence, preprocessing",
    )
    p_weights.add_argument("model", nargs="?", help="a torchvision model or presets:NAME")
    p_weights.set_defaults(func=cmd_weights)
    from app.cli_inspect import add_inspect_parser  # its commands, in their own module

    add_inspect_parser(sub)
    from app.cli_experiments import add_experiment_parsers

    add_experiment_parsers(sub)
    return parser


#: exit codes: 0 done, 1 the network or the run failed, 2 bad arguments or files, 3 a bug
EXIT_INTERNAL = 3
COMMANDS = (
    "check",
    "presets",
    "train",
    "evaluate",
    "export",
    "import",
    "predict",
    "weights",
    "inspect",
    "sweep",
    "compare",
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        unknown = _unknown_command(argv)
        if unknown:
            print(unknown, file=sys.stderr)
            return 2
        from app.ui.app import run  # the desktop app: python main.py [FILE]

        return run(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line here, the traceback in a log file
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"details: {_log_crash()}  (please include it in a bug report)", file=sys.stderr)
        return EXIT_INTERNAL


def _unknown_command(argv: list[str]) -> str:
    """Why ``argv`` is neither a command nor ``[FILE]`` for the window (empty when it is
    one of them): ``trian presets:lenet5`` must not open the window."""
    import difflib
    from pathlib import Path

    if not argv:
        return ""
    first = argv[0]
    looks_like_file = (
        Path(first).exists() or first.endswith(".json") or first.startswith(PRESET_PREFIX)
    )
    if looks_like_file and len(argv) == 1:
        return ""
    close = difflib.get_close_matches(first, COMMANDS, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    if looks_like_file:
        return f"error: the window opens one file; got {len(argv)} arguments.{hint}"
    return (
        f"error: unknown command '{first}'.{hint}\n"
        f"commands: {', '.join(COMMANDS)} (python main.py COMMAND --help); "
        "python main.py [FILE.json] opens the window"
    )


def _log_crash() -> str:
    """Write the current exception's traceback to a log file; returns its path."""
    import tempfile
    import time
    import traceback
    from pathlib import Path

    import platformdirs

    text = traceback.format_exc()
    for folder in (Path(platformdirs.user_log_dir("NetBuilder", appauthor=False)), None):
        try:
            if folder is None:
                folder = Path(tempfile.gettempdir())
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
            path.write_text(f"netbuilder {' '.join(sys.argv)}\n{text}", encoding="utf-8")
            return str(path)
        except OSError:
            continue
    return "(could not be written)"
