"""``main.py sweep`` and ``main.py compare`` (issue 20): sweeps over settings and block
parameters with repeated seeds, and the comparison of runs (settings, graph diff, metrics
with 95% intervals). Optuna and torch are imported when a command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli import SourceError, _add_config_flags, _setting_flags, open_source


def cmd_sweep(args: argparse.Namespace) -> int:
    from app.core.experiments.space import SweepError
    from app.core.experiments.sweep import (
        SweepFinished,
        SweepSpec,
        SweepStarted,
        TrialFinished,
        TrialStarted,
        run_sweep,
    )
    from app.core.experiments.templates import template
    from app.core.training.config import ConfigError, TrainConfig
    from app.core.training.events import EpochReport, RunControl, RunFailed

    try:
        project = open_source(args.source)
        config = TrainConfig.from_dict({**project.training, **_setting_flags(args)})
    except (SourceError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = list(args.param or ())
    try:
        if args.template:
            chosen = template(args.template)
            problem = chosen.problem(project.graph)
            if problem:
                raise SweepError(f"{args.template}: {problem}")
            params.insert(0, chosen.spec().params[0])
        spec = SweepSpec(
            tuple(params),
            args.sampler,
            trials=args.trials or 0,
            seeds=args.seeds,
            metric=args.metric,
            name=args.name or "",
            storage=args.storage or "",
            sampler_seed=args.sampler_seed,
            template=args.template or "",
        )
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    control = RunControl()
    import signal

    previous = signal.signal(signal.SIGINT, lambda *_: control.stop())
    finished: list[TrialFinished] = []
    percent = spec.metric.endswith("acc")
    end: SweepFinished | None = None
    try:
        events = run_sweep(
            project,
            config,
            spec,
            runs_root=Path(args.runs) if args.runs else None,
            control=control,
        )
        for event in events:
            if isinstance(event, SweepStarted):
                print(
                    f"sweep {event.name}: {event.sampler}, {event.total} points × "
                    f"{event.seeds} seed(s), {event.metric}; storage {event.storage}"
                )
                for line in event.dimensions:
                    print(f"  {line}")
                if event.done:
                    print(f"  {event.done} trial(s) already finished (another worker or go)")
            elif isinstance(event, TrialStarted):
                print(
                    f"trial {event.trial}  {_point(event.point)}  seed {event.seed}"
                    f" ({event.repeat + 1}/{event.seeds})",
                    flush=True,
                )
            elif isinstance(event, EpochReport) and args.verbose:
                print(
                    f"    epoch {event.epoch}/{config.epochs}  val acc {event.val_acc:.4f}"
                    f"  val loss {event.val_loss:.4f}"
                )
            elif isinstance(event, RunFailed):
                print(f"    run failed ({event.kind}): {event.message}", file=sys.stderr)
            elif isinstance(event, TrialFinished):
                finished.append(event)
                print(
                    f"  → trial {event.trial}: {event.state}"
                    + (
                        f", {spec.metric} {_value(event.value, event.half, percent)}"
                        if event.value is not None
                        else ""
                    )
                    + (f" ({event.message})" if event.message else ""),
                    flush=True,
                )
            elif isinstance(event, SweepFinished):
                end = event
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous)
    done = sorted(
        (f for f in finished if f.value is not None),
        key=lambda f: f.value,
        reverse=spec.metric.endswith("acc"),
    )
    if done:
        print(f"\n{'trial':>5}  {spec.metric:<24}  point")
        for f in done:
            print(f"{f.trial:>5}  {_value(f.value, f.half, percent):<24}  {_point(f.point)}")
    if end is not None:
        if end.best_trial is not None:
            print(
                f"best: trial {end.best_trial}, {_point(end.best_point)}: "
                f"{spec.metric} {end.best_value:.4f} ({end.completed} trial(s) completed "
                "in the study)"
            )
        if end.stopped:
            print(f"stopped: run the same command with --name {end.name} to finish the sweep")
    if end is not None and any(f.run_dirs for f in finished):
        print(f"compare with: python main.py compare --sweep {end.name} --storage {end.storage}")
    return 0 if done else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from app.core.experiments.compare import compare
    from app.core.experiments.runs import read_run

    folders = list(args.runs)
    if args.sweep:
        from app.core.experiments.space import SweepError
        from app.core.experiments.sweep import default_storage, sweep_table

        storage = args.storage or default_storage(Path(args.runs_root) if args.runs_root else None)
        try:
            table = sweep_table(args.sweep, storage)
        except (SweepError, KeyError) as exc:
            print(f"error: sweep {args.sweep}: {exc}", file=sys.stderr)
            return 2
        folders += [d for row in table for d in row["runs"]]
    if not folders:
        print("error: give run folders, or --sweep NAME", file=sys.stderr)
        return 2
    try:
        runs = [read_run(f) for f in folders]
        comparison = compare(runs, args.metric, args.threshold)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        Path(args.csv).write_text(comparison.csv(groups=args.groups), encoding="utf-8")
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "runs": comparison.rows(),
                    "groups": comparison.group_rows(),
                    "graph_diffs": [d.to_dict() if d else None for d in comparison.diffs],
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print(_compare_text(comparison))
    if args.csv:
        print(f"wrote {args.csv}")
    return 0


def _compare_text(c) -> str:
    from app.core.experiments.runs import METRICS

    metric = METRICS[c.metric]
    out = []
    shown = [n for n in c.settings if n in c.differing]
    out.append(f"{len(c.runs)} run(s); settings that differ: {', '.join(shown) or 'none'}")
    header = ["run", *shown, "graph", "epochs", c.metric, f"epochs to {c.threshold:g}"]
    rows = []
    for row in c.rows():
        value = row[c.metric]
        reached = row[f"epochs_to_{c.threshold:g}"]
        rows.append(
            [row["run"]]
            + [_cell(row[n]) for n in shown]
            + [
                row["graph"],
                str(row["epochs"]),
                "—" if value is None else (f"{value:.1%}" if metric.percent else f"{value:.4f}"),
                "never" if reached is None else str(reached),
            ]
        )
    out.append(_table(header, rows))
    seen: set[tuple[str, ...]] = set()
    for run, diff in zip(c.runs, c.diffs, strict=True):
        lines = tuple(diff.lines()) if diff else ()
        if lines and lines not in seen:  # each distinct graph once (seeds share theirs)
            seen.add(lines)
            out.append(f"\ngraph of {run.label()} against {c.runs[0].label()}:")
            out += [f"  {line}" for line in lines]
    if len(c.groups) > 1 or len(c.groups[0].runs) > 1:
        out.append(f"\n{metric.title} by configuration (mean ± 95% interval over seeds):")
        rows = []
        for group, diff in zip(c.groups, c.differences(), strict=True):
            iv = group.interval(c.metric)
            reached = [e for e in group.epochs_to if e is not None]
            every = reached and len(reached) == len(group.epochs_to)
            if group is c.groups[0]:
                versus = "reference"
            else:
                versus = diff.text(percent=metric.percent) if diff else "—"
            rows.append(
                [
                    group.label,
                    str(len(group.runs)),
                    iv.text(percent=metric.percent) if iv else "—",
                    f"{sum(reached) / len(reached):.1f}"
                    if every
                    else f"{len(reached)} of {len(group.epochs_to)}"
                    if reached
                    else "never",
                    versus,
                ]
            )
        out.append(
            _table(
                ["configuration", "runs", c.metric, f"epochs to {c.threshold:g}", "vs first"], rows
            )
        )
    return "\n".join(out)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    from app.core.experiments.space import value_text

    return value_text(value)


def _point(point: dict) -> str:
    from app.core.experiments.space import point_text

    return point_text(point)


def _value(value: float | None, half: float | None, percent: bool) -> str:
    from app.core.experiments.stats import Interval

    if value is None:
        return "—"
    return Interval(value, half, 0, None).text(percent=percent)


def add_experiment_parsers(sub) -> None:
    from app.core.experiments.runs import METRICS
    from app.core.experiments.sweep import SAMPLERS

    templates = (
        "templates (--template NAME): batch_norm, dropout, augmentation, optimizer, schedule, "
        "width; each runs its variants of the open network as a grid over 'variant'"
    )
    p = sub.add_parser(
        "sweep",
        help="run a sweep over settings and block parameters (grid, random, TPE), ×N seeds",
        description="Each trial trains ordinary runs (one per seed) in the runs folder. "
        "Several workers share a sweep: run the same command with the same --name and "
        "--storage in each.",
        epilog="PARAM: NAME=V1,V2,… | NAME=[log:][int:]LOW..HIGH[:POINTS], NAME a training "
        "setting (lr, batch_size, optimizer…) or NODE.PARAM (conv2d_1.out_channels). " + templates,
    )
    p.add_argument("source", help="a project file, or presets:NAME")
    p.add_argument("--param", action="append", metavar="NAME=VALUES", help="a swept quantity")
    p.add_argument("--template", help="a course experiment (see below)")
    p.add_argument("--sampler", choices=SAMPLERS, default="grid", help="[default: grid]")
    p.add_argument("--trials", type=int, help="random/tpe: points to run (grid: a limit)")
    p.add_argument("--seeds", type=int, default=1, help="runs per point (seed, seed+1, …)")
    p.add_argument("--metric", choices=tuple(METRICS), default="best_val_acc")
    p.add_argument("--name", help="the sweep's name (join or finish an existing one)")
    p.add_argument(
        "--storage",
        help="Optuna storage: sqlite:///FILE.db, postgresql://…, or journal:FILE "
        "[default: sqlite in the runs folder]",
    )
    p.add_argument("--sampler-seed", type=int, default=0, help="draws of a random design")
    p.add_argument("--runs", help="folder for run directories (default: user data)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every epoch")
    _add_config_flags(p)
    p.set_defaults(func=cmd_sweep)
    c = sub.add_parser(
        "compare",
        help="compare runs: settings that differ, graph diff, metrics with 95% intervals",
    )
    c.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders (the first: reference)")
    c.add_argument("--sweep", help="every run of this sweep")
    c.add_argument("--storage", help="the sweep's storage [default: sqlite in the runs folder]")
    c.add_argument("--runs-root", help="the runs folder the default storage is in")
    c.add_argument("--metric", choices=tuple(METRICS), default="best_val_acc")
    c.add_argument("--threshold", type=float, default=0.8, help="for epochs-to-accuracy")
    c.add_argument("--csv", help="write the table to this CSV file")
    c.add_argument("--groups", action="store_true", help="CSV: one row per configuration")
    c.add_argument("--json", action="store_true", help="print everything as JSON")
    c.set_defaults(func=cmd_compare)
