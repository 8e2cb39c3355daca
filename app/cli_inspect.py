"""``main.py inspect …``: see inside a network (issue 19). Each command draws a PNG (and
writes a CSV where there are numbers) with the functions of ``app.core.training.inside``;
torch and matplotlib are imported when a command runs."""

from __future__ import annotations

import argparse
import sys

from app.cli import SourceError, _add_config_flags, _setting_flags, open_source


def cmd_features(args: argparse.Namespace) -> int:
    """``inspect features``: a node's maps for an image, channel statistics, dead units."""
    from pathlib import Path

    from app.core.training.inside.features import FeatureError, feature_maps, stats_csv, subject

    try:
        s = subject(args.source, checkpoint=args.checkpoint or "")
        by_path = {name: nid for nid, name in s.graph.module_names().items()}
        node = by_path.get(args.node, args.node)
        images, index, caption = s.images, args.index, ""
        if args.image:
            if s.normalise is None:
                raise FeatureError("--image needs a run folder (its normalisation)")
            import torch

            images = torch.cat([s.normalise(Path(args.image)), s.images])
            index, caption = 0, Path(args.image).name
        elif not 0 <= index < len(images):
            raise FeatureError(f"--index {index}: there are {len(images)} validation images")
        else:
            caption = f"validation image {index} ({s.labels[index]})"
        fm = feature_maps(s.model, s.graph, node, images, index)
    except FeatureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{s.source}: {caption}")
    print(fm.summary)
    if args.csv:
        Path(args.csv).write_text(stats_csv(fm), encoding="utf-8")
        print(f"wrote {args.csv}")
    if args.output:
        from app.core.training.inside.charts import feature_chart

        feature_chart(fm, images[index], Path(args.output), f"{fm.summary}\n{caption}")
        print(f"wrote {args.output}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    """``inspect augment``: what the engine trains on at a step, beside the loaded images."""
    from pathlib import Path

    from app.core.training.config import ConfigError, TrainConfig
    from app.core.training.data import DatasetError
    from app.core.training.errors import TrainingFailure
    from app.core.training.inside.augmentation import preview

    try:
        project = open_source(args.source)
        config = TrainConfig.from_dict({**project.training, **_setting_flags(args)})
        batch = preview(project.graph, config, args.step, args.count)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ConfigError, DatasetError, TrainingFailure, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    on = [
        name
        for name in ("crop_padding", "hflip", "vflip", "color_jitter", "cutout", "mixup_alpha")
        if getattr(config, name)
    ]
    print(
        f"step {batch.step}: {len(batch.originals)} images; augmentation: {', '.join(on) or 'none'}"
    )
    if args.output:
        from app.core.training.inside.charts import augmentation_chart

        title = f"{project.name or args.source}: {', '.join(on) or 'no augmentation'}"
        augmentation_chart(batch, Path(args.output), title)
        print(f"wrote {args.output}")
    return 0


def cmd_gradcam(args: argparse.Namespace) -> int:
    """``inspect gradcam``: where the network looks (Grad-CAM, or saliency), over images."""
    from pathlib import Path

    from app.core.training.inside.features import FeatureError, subject
    from app.core.training.inside.gradcam import (
        default_cam_node,
        gradcam,
        localisation,
        saliency,
    )

    try:
        s = subject(args.source, checkpoint=args.checkpoint or "", count=max(256, args.count))
        by_path = {name: nid for nid, name in s.graph.module_names().items()}
        node = by_path.get(args.node, args.node) if args.node else default_cam_node(s.graph)
        if args.saliency:
            what, result = "saliency", saliency(s.model, s.images)
        else:
            what, result = f"Grad-CAM at {s.graph.module_names().get(node, node)}", None
            result = gradcam(s.model, s.graph, node, s.images)
    except FeatureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{s.source}: {what}")
    if s.boxes is not None and s.targets is not None:
        found = localisation(result.heat, s.boxes, result.predicted == s.targets)
        print(f"on {len(s.images)} validation images: {found.text}")
    if args.output:
        from app.core.training.inside.charts import attribution_chart

        shown = slice(args.index, args.index + args.count)
        captions = [
            f"{s.classes[int(p)]} {float(q):.0%}\n(true: {t})"
            for p, q, t in zip(
                result.predicted[shown], result.probability[shown], s.labels[shown], strict=True
            )
        ]
        picked = type(result)(
            result.heat[shown],
            result.predicted[shown],
            result.target[shown],
            result.probability[shown],
        )
        attribution_chart(s.images[shown], picked, captions, Path(args.output), what)
        print(f"wrote {args.output}")
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    """``inspect landscape``: the loss around each run's weights (and from its start)."""
    from pathlib import Path

    from app.core.training.inside.features import FeatureError, subject
    from app.core.training.inside.landscape import line, surface

    surfaces, names, lines, csv = [], [], [], []
    for source in [args.source, *(args.compare or [])]:
        try:
            s = subject(source, checkpoint=args.checkpoint or "", count=args.images, split="train")
        except FeatureError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        x, y = s.images, s.targets
        classes = len(s.classes)
        shown = Path(source).name
        tick = _progress(f"{shown}: surface", args.progress)
        result = surface(
            s.model, x, y, steps=args.steps, span=args.span, classes=classes, progress=tick
        )
        print(
            f"\r{shown}: loss {result.centre:.4f} on {len(y)} training images; sharpness "
            f"{result.sharpness(args.radius):.2f}% (largest rise within {args.radius} of the "
            "centre, filter-normalised)"
        )
        surfaces.append(result)
        names.append(shown)
        csv.append("".join(f"{shown},{row}\n" for row in result.to_csv().splitlines()[1:]))
        if args.line:
            start = _initial_state(s)
            end = {k: v.clone() for k, v in s.model.state_dict().items()}
            tick = _progress(f"{shown}: line", args.progress)
            lines.append((line(s.model, start, end, x, y, classes=classes, progress=tick), shown))
            print(f"\r{shown}: from its initialisation, loss {lines[-1][0].losses[0]:.3f} → "
                  f"{result.centre:.3f}        ")  # fmt: skip
    if args.csv:
        Path(args.csv).write_text("run,alpha,beta,loss\n" + "".join(csv), encoding="utf-8")
        print(f"wrote {args.csv}")
    if args.output:
        from app.core.training.inside.charts import landscape_chart

        landscape_chart(surfaces, names, Path(args.output), lines)
        print(f"wrote {args.output}")
    return 0


def _progress(what: str, lines: bool = False):  # type: ignore[no-untyped-def]
    """A progress line on a terminal (nothing when the output is a file); with ``lines``,
    'progress DONE/TOTAL' lines for a program reading the output (the window)."""
    if lines:
        return lambda done, total: print(f"progress {done}/{total}", flush=True)
    if not sys.stdout.isatty():
        return None

    def tick(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"\r{what}: {done}/{total}", end="", flush=True)

    return tick


def _initial_state(s):  # type: ignore[no-untyped-def]
    """The weights the run started from: the network initialised from the run's seed, as
    the engine does it (pretrained or starting weights are not loaded again)."""
    import torch

    from app.core.compiler import compile_graph
    from app.core.training.init import initialise

    torch.manual_seed(s.config.seed)
    model = compile_graph(s.graph)
    initialise(model, s.config)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def cmd_signal(args: argparse.Namespace) -> int:
    """``inspect signal``: spreads of activations and gradients at initialisation."""
    from pathlib import Path

    from app.core.training.inside.signal import SignalError, compare, summary, to_csv
    from app.core.training.options import INITS

    try:
        project = open_source(args.source)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inits = [i.strip() for i in args.init.split(",") if i.strip()]
    unknown = [i for i in inits if i not in INITS]
    if unknown or not inits:
        print(
            f"error: unknown initialiser {', '.join(unknown) or '(none)'}: choose from "
            f"{', '.join(INITS.names())}",
            file=sys.stderr,
        )
        return 2
    try:
        reports = compare(project.graph, inits, batch=args.batch, draws=args.draws)
    except SignalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(reports))
    if args.csv:
        Path(args.csv).write_text(to_csv(reports), encoding="utf-8")
        print(f"wrote {args.csv}")
    if args.output:
        from app.core.training.inside.charts import signal_chart

        signal_chart(reports, Path(args.output), project.name or args.source)
        print(f"wrote {args.output}")
    return 0


def add_inspect_parser(sub) -> None:  # type: ignore[no-untyped-def]
    """The ``inspect`` command and its sub-commands, on the main parser's ``sub``."""
    p_inspect = sub.add_parser("inspect", help="see inside a network (writes PNG and CSV)")
    inspect_sub = p_inspect.add_subparsers(dest="what", required=True)
    p_signal = inspect_sub.add_parser(
        "signal",
        help="spread of activations and gradients over depth at initialisation, per initialiser",
    )
    p_signal.add_argument("source", help="a project file, or presets:NAME")
    p_signal.add_argument(
        "--init",
        default="default,lecun,xavier_normal,he_normal",
        help="initialisers, comma-separated",
    )
    p_signal.add_argument("--batch", type=int, default=16, help="noise images per draw")
    p_signal.add_argument(
        "--draws", type=int, default=1, help="average over this many draws of the weights"
    )
    p_signal.add_argument("-o", "--output", help="the figure (.png)")
    p_signal.add_argument("--csv", help="the numbers (.csv)")
    p_signal.set_defaults(func=cmd_signal)
    p_features = inspect_sub.add_parser(
        "features", help="a node's feature maps for an image, channel statistics, dead units"
    )
    p_features.add_argument("source", help="a run folder (or a project: its initialisation)")
    p_features.add_argument("--node", required=True, help="a node id or module path")
    p_features.add_argument("--index", type=int, default=0, help="a validation image")
    p_features.add_argument("--image", help="an image file instead (with a run folder)")
    p_features.add_argument("--checkpoint", choices=("best", "last"), help="of a run folder")
    p_features.add_argument("-o", "--output", help="the figure (.png)")
    p_features.add_argument("--csv", help="per-channel statistics (.csv)")
    p_features.set_defaults(func=cmd_features)
    p_augment = inspect_sub.add_parser(
        "augment", help="the images a training step is given, beside the loaded ones"
    )
    p_augment.add_argument("source", help="a project file, or presets:NAME")
    p_augment.add_argument("--step", type=int, default=0, help="the training step (from 0)")
    p_augment.add_argument("--count", type=int, default=8, help="images to show")
    p_augment.add_argument("-o", "--output", help="the figure (.png)")
    _add_config_flags(p_augment)
    p_augment.set_defaults(func=cmd_augment)
    p_cam = inspect_sub.add_parser(
        "gradcam", help="where the network looks: Grad-CAM (or --saliency) over images"
    )
    p_cam.add_argument("source", help="a run folder (or a project: its initialisation)")
    p_cam.add_argument("--node", help="a conv node id or module path (default: the last)")
    p_cam.add_argument("--saliency", action="store_true", help="input gradients instead")
    p_cam.add_argument("--index", type=int, default=0, help="the first validation image shown")
    p_cam.add_argument("--count", type=int, default=8, help="images shown")
    p_cam.add_argument("--checkpoint", choices=("best", "last"), help="of a run folder")
    p_cam.add_argument("-o", "--output", help="the figure (.png)")
    p_cam.set_defaults(func=cmd_gradcam)
    p_land = inspect_sub.add_parser(
        "landscape",
        help="the loss around a run's weights on a filter-normalised plane, its sharpness",
    )
    p_land.add_argument("source", help="a run folder")
    p_land.add_argument("--compare", nargs="+", metavar="RUN", help="other runs, side by side")
    p_land.add_argument("--line", action="store_true", help="also the line from the start")
    p_land.add_argument("--steps", type=int, default=21, help="grid points per side")
    p_land.add_argument("--span", type=float, default=1.0, help="the plane's half-width")
    p_land.add_argument("--radius", type=float, default=0.25, help="of the sharpness")
    p_land.add_argument("--images", type=int, default=512, help="training images for the loss")
    p_land.add_argument("--checkpoint", choices=("best", "last"), help="of the run folders")
    p_land.add_argument("-o", "--output", help="the figure (.png)")
    p_land.add_argument("--csv", help="every point's loss (.csv)")
    p_land.add_argument("--progress", action="store_true", help="print progress lines")
    p_land.set_defaults(func=cmd_landscape)
