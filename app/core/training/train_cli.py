"""The headless ``train`` command: drives the engine and prints progress for a terminal or a
log file. Rank 0 prints under torchrun."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from app.core.serialization import Project
from app.core.shapes import check
from app.core.training.adapt import adapt_to_dataset
from app.core.training.config import TrainConfig
from app.core.training.data import DatasetError, load_data
from app.core.training.engine import Trainer, resolve_device
from app.core.training.errors import TrainingFailure
from app.core.training.events import (
    EpochReport,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    StepReport,
)


def run_training(
    project: Project,
    config: TrainConfig,
    *,
    runs: str | None = None,
    resume: str | None = None,
    adapt: bool = False,
    name: str = "run",
    out: TextIO | None = None,
) -> int:
    """Train and print; 0 when the run completed, stopped or stopped early, 1 when it failed."""
    out = out or sys.stdout
    rank = int(os.environ.get("RANK", "0"))
    show = rank == 0
    data = None
    if config.pretrained and not resume:  # a download shows torch.hub's progress bar
        from app.core.training.pretrained import fetch_state

        try:
            fetch_state(config.pretrained, progress=show)
        except TrainingFailure as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if adapt:
        report = check(project.graph)
        shape = report.nodes[report.input_id].shape if report.input_id else None
        try:
            device = resolve_device(config.device)
            data = load_data(config, device, shape[1:] if shape and len(shape) == 3 else None)
        except (DatasetError, TrainingFailure) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for change in adapt_to_dataset(project.graph, data.info.shape, len(data.info.classes)):
            if show:
                print(f"adapted {change}", file=out)
    control = RunControl()
    previous = signal.signal(signal.SIGINT, lambda *_: control.stop())
    if name.startswith("presets:"):
        label = name.removeprefix("presets:").replace("/", "_")
    else:  # a project file: its name, not its folders
        label = Path(name).stem
    trainer = Trainer(
        project.graph,
        config,
        name=Path(label).name,
        runs_root=Path(runs) if runs else None,
        run_dir=Path(resume) if resume else None,
        control=control,
        data=data,
    )
    tty = out.isatty()
    code = 1
    try:
        for event in trainer.run():
            if isinstance(event, RunFinished | RunFailed):
                code = 0 if isinstance(event, RunFinished) else 1
            if not show:
                continue
            if isinstance(event, RunStarted):
                print(
                    f"training on {event.device}: {event.dataset} ({event.train_size:,} train /"
                    f" {event.val_size:,} val), {event.params:,} parameters, {event.epochs} "
                    f"epochs × {event.steps_per_epoch} steps",
                    file=out,
                )
                for note in event.notes:
                    print(note, file=out)
                print(f"run directory: {event.run_dir}", file=out)
            elif isinstance(event, StepReport) and tty:
                print(
                    f"\r  epoch {event.epoch + 1}  step {event.step}  loss "
                    f"{event.losses[-1]:.4f}  {event.images_per_sec:,.0f} img/s  ETA "
                    f"{_eta(event.eta_s)}   ",
                    end="",
                    file=out,
                    flush=True,
                )
            elif isinstance(event, EpochReport):
                if tty:
                    print("\r" + " " * 78 + "\r", end="", file=out)
                mark = " *" if event.best else ""
                print(
                    f"epoch {event.epoch:>3}/{config.epochs}  train loss {event.train_loss:.4f}"
                    f" acc {event.train_acc:.4f}  val loss {event.val_loss:.4f} acc "
                    f"{event.val_acc:.4f} top-5 {event.val_top5:.4f}  lr {event.lr:.3g}  "
                    f"{event.epoch_time:.1f} s  {event.images_per_sec:,.0f} img/s{mark}",
                    file=out,
                    flush=True,
                )
            elif isinstance(event, RunFinished):
                print(
                    f"{event.reason} after {event.epochs_done} epoch(s): best validation "
                    f"accuracy {event.best_val_acc:.4f} at epoch {event.best_epoch}",
                    file=out,
                )
                if event.ensemble_acc is not None:
                    print(f"snapshot ensemble accuracy {event.ensemble_acc:.4f}", file=out)
                if event.ranks > 1:
                    same = (
                        "identical on every rank"
                        if event.ranks_in_sync
                        else "DIFFERENT across ranks"
                    )
                    print(f"{event.ranks} processes: final weights {same}", file=out)
                if event.reason == "stopped":
                    print(
                        f"resume with: python main.py train --resume {event.run_dir}",
                        file=out,
                    )
            elif isinstance(event, RunFailed):
                print(f"error ({event.kind}): {event.message}", file=sys.stderr)
                if event.kind == "data" and event.node_id:
                    print(
                        "hint: pass --adapt to fit the Input and the classifier to the dataset",
                        file=sys.stderr,
                    )
                if event.run_dir:
                    print(f"run directory: {event.run_dir}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, previous)
    return code


def _eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
