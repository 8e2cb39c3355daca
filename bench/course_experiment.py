"""A course experiment measured end to end: does batch normalisation speed up training?

A plain CNN (three 3×3 conv → ReLU stages with max-pooling, global average pooling and a
linear classifier) is trained on the built-in shapes with and without a BatchNorm after each
convolution, 3 seeds each, through the ``batch_norm`` template and the sweep engine (the same
code as ``main.py sweep --template batch_norm``). It prints the comparison: best validation
accuracy and epochs to 80% validation accuracy, mean ± 95% interval over the seeds, and
whether the difference is beyond the seed spread.

Usage: python bench/course_experiment.py [--quick] [--seeds N] [--epochs N] [--template NAME]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from app.core.experiments.compare import compare
from app.core.experiments.runs import read_run
from app.core.experiments.stats import mean_interval, welch
from app.core.experiments.sweep import TrialFinished, run_sweep
from app.core.experiments.templates import template
from app.core.graph import Graph
from app.core.serialization import Project
from app.core.training.config import TrainConfig


def plain_cnn() -> Graph:
    g = Graph()
    prev = g.add_node("input", {"channels": 3, "height": 32, "width": 32}).id
    steps = []
    for width in (32, 64, 128):
        steps += [("conv2d", {"out_channels": width, "padding": 1}), ("relu", {})]
        if width != 128:
            steps.append(("maxpool2d", {"kernel_size": 2}))
    steps += [("global_avgpool", {}), ("linear", {"out_features": 10}), ("output", {})]
    for type_id, params in steps:
        node = g.add_node(type_id, params).id
        g.connect(prev, node)
        prev = node
    return g


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--template", default="batch_norm")
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = {
        "dataset": "shapes", "train_size": 4000, "val_size": 1000, "batch_size": 64,
        "epochs": args.epochs, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
        "weight_decay": 5e-4, "report_every": 20,
    }  # fmt: skip
    if args.quick:
        settings.update(train_size=64, val_size=32, batch_size=32, epochs=1)
    config = TrainConfig.from_dict(settings)
    project = Project(plain_cnn(), "plain_cnn", config.changed())
    t = template(args.template)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        spec = t.spec(seeds=1 if args.quick else args.seeds, name="course")
        spec = type(spec).from_dict({**spec.to_dict(), "storage": f"sqlite:///{root}/s.db"})
        finished = [
            e
            for e in run_sweep(project, config, spec, runs_root=Path(root))
            if isinstance(e, TrialFinished)
        ]
        runs = [read_run(d) for f in finished for d in f.run_dirs]
        c = compare(runs, "best_val_acc", args.threshold)
        print(f"{t.title}: {t.claim}")
        print(
            f"plain CNN on shapes ({settings['train_size']} train / {settings['val_size']} val),"
            f" {settings['epochs']} epochs, SGD lr {settings['lr']}, {len(runs)} runs, "
            f"mean ± 95% interval over {spec.seeds} seeds:"
        )
        first = c.groups[0]
        for group, diff in zip(c.groups, c.differences(), strict=True):
            best = group.interval("best_val_acc")
            reached = [e for e in group.epochs_to if e is not None]
            if reached and len(reached) == len(group.epochs_to):
                epochs = mean_interval(reached).text(digits=1)
            else:
                epochs = f"{len(reached)} of {len(group.epochs_to)} runs reached it"
            early = mean_interval([r.epochs[0].val_acc for r in group.runs])
            seeds = ", ".join(f"{r.metric('best_val_acc'):.3f}" for r in group.runs)
            print(
                f"  {group.label:<16} best val acc {best.text(percent=True):<16} "
                f"epochs to {args.threshold:.0%}: {epochs:<12} val acc after epoch 1: "
                f"{early.text(percent=True)}   (best per seed {seeds})"
            )
            if group is first:
                continue
            print(f"    vs {first.label}: best val acc {diff.text(percent=True)}")
            if all(e is not None for e in (*first.epochs_to, *group.epochs_to)):
                steps = welch(list(first.epochs_to), list(group.epochs_to))
                print(f"    vs {first.label}: epochs to {args.threshold:.0%} {steps.text()}")
            after_one = welch(
                [r.epochs[0].val_acc for r in first.runs],
                [r.epochs[0].val_acc for r in group.runs],
            )
            print(f"    vs {first.label}: val acc after epoch 1 {after_one.text(percent=True)}")
        seconds = [e.epoch_time for r in runs for e in r.epochs]
        print(
            f"{time.perf_counter() - start:.0f} s in all; "
            f"{statistics.fmean(seconds):.1f} s per epoch on average"
        )


if __name__ == "__main__":
    main()
