"""A run directory: the graph, the config, metrics (JSON lines and CSV) and checkpoints.

    runs/20261122-054800-resnet18_cifar/
        project.json  config.json  metrics.jsonl  epochs.csv  run.log
        checkpoints/last.pt  checkpoints/best.pt  snapshots/snapshot_1.pt …

Checkpoints are written atomically (temporary file, then rename), so a failure while saving
leaves the previous checkpoint intact. :class:`RunDir` owns this layout: the engine writes
through it, and everything else (the window's run history, exports, the CLI's --resume) reads
through it, so the file names are spelled here only. Torch-free until a checkpoint is saved:
the window reads run folders without loading torch.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.core.serialization import Project, save
from app.core.training.config import TrainConfig
from app.core.training.events import (
    Diverged,
    EpochReport,
    Event,
    LayerStat,
    Resumed,
    RunFailed,
    RunFinished,
    RunStarted,
    StepReport,
    event_dict,
)
from app.core.training.paths import default_runs_root

__all__ = ["RunDir", "SilentRunDir", "default_runs_root", "new_run_dir"]


def new_run_dir(root: Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "run"
    path = root / f"{stamp}-{safe}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{safe}-{n}"
    path.mkdir(parents=True)
    return path


#: the events a run's metrics.jsonl holds, by the name written with each
_EVENTS = {
    c.__name__: c
    for c in (RunStarted, StepReport, EpochReport, Diverged, Resumed, RunFinished, RunFailed)
}


class RunDir:
    """A run folder: ``RunDir(path)`` to write one (the engine), ``RunDir(path, create=False)``
    to read one (missing or damaged files read as nothing, never raise)."""

    PROJECT, CONFIG, METRICS, EPOCHS, LOG, EXPERIMENT = (
        "project.json", "config.json", "metrics.jsonl", "epochs.csv", "run.log",
        "experiment.json",
    )  # fmt: skip
    #: the files a bundle carries as the run's metrics
    METRIC_FILES = (METRICS, EPOCHS, LOG)

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- paths
    @property
    def project_file(self) -> Path:
        return self.path / self.PROJECT

    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    def checkpoint_path(self, name: str) -> Path:
        """``best``, ``last`` or another checkpoint's file (it may not exist yet)."""
        return self.path / "checkpoints" / f"{name}.pt"

    def has_checkpoint(self, name: str) -> bool:
        return self.checkpoint_path(name).exists()

    # --------------------------------------------------------------- readers
    @staticmethod
    def of_project(root: Path, project_name: str) -> list[Path]:
        """Run folders under ``root`` whose saved project has this name, oldest first."""
        if not Path(root).is_dir():
            return []
        return sorted(
            path
            for path in Path(root).iterdir()
            if RunDir(path, create=False).project_name() == project_name
        )

    def project_name(self) -> str | None:
        try:
            name = json.loads(self.project_file.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            return None
        return name if isinstance(name, str) else None

    def config(self) -> dict | None:
        """The run's settings as saved, or None when missing or damaged."""
        try:
            config = json.loads(self.config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return config if isinstance(config, dict) else None

    def experiment(self) -> dict:
        """What a sweep or a repeat wrote about this run (its sweep, trial, point and seed);
        empty for a run started by hand or when the file is damaged."""
        try:
            tags = json.loads((self.path / self.EXPERIMENT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return tags if isinstance(tags, dict) else {}

    def events(self) -> Iterator[Event]:
        """The events of metrics.jsonl, in order; lines that cannot be read are skipped (a
        run that crashed may have left half a line)."""
        try:
            lines = (self.path / self.METRICS).read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                row = json.loads(line)
                kind = _EVENTS.get(row.pop("event"))
                if kind is None:
                    continue
                if kind is StepReport:
                    row["layers"] = tuple(
                        LayerStat(**{**s, "histogram": tuple(s.get("histogram", ()))})
                        for s in row.get("layers", ())
                    )
                for key, value in row.items():
                    if isinstance(value, list):
                        row[key] = tuple(value)
                event = kind(**row)
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
            yield event

    def best_accuracies(self) -> list[float]:
        """Validation accuracy of each completed epoch (from epochs.csv)."""
        try:
            with open(self.path / self.EPOCHS, newline="", encoding="utf-8") as fh:
                return [float(r["val_acc"]) for r in csv.DictReader(fh)]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def started(self) -> tuple[str, str] | None:
        """(date, time) from the folder's name (``20261122-133605-name``), or None."""
        stamp = self.path.name[:15]
        if not (len(stamp) == 15 and stamp[:8].isdigit() and stamp[9:].isdigit()):
            return None
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}", f"{stamp[9:11]}:{stamp[11:13]}"

    def summary(self) -> str:
        """One line telling a run apart from the others: when, the main settings, how far it
        got and its best validation accuracy. Missing or damaged files leave their part out."""
        when = self.started()
        parts = [" ".join(when) if when else self.path.name]
        config = self.config()
        with contextlib.suppress(KeyError, TypeError, ValueError):  # no config, or partial
            parts.append(
                f"{config['optimizer']} lr {config['lr']:g}, batch {config['batch_size']}, "
                f"{config['dataset']}"
            )
        accuracies = self.best_accuracies()
        if accuracies:
            parts.append(f"{len(accuracies)} epochs, best val acc {max(accuracies):.1%}")
        else:
            parts.append("no epoch completed")
        return " · ".join(parts)

    def label(self) -> str:
        """A short name for a run beside its curves: its time, optimizer and learning rate."""
        when = self.started()
        if when is None:
            return self.path.name
        config = self.config()
        try:
            return f"{when[1]} {config['optimizer']} lr {config['lr']:g}"
        except (KeyError, TypeError, ValueError):
            return when[1]

    # --------------------------------------------------------------- writers
    def write_setup(self, project: Project, config: TrainConfig) -> None:
        save(project, self.project_file)
        _atomic_text(
            self.config_file,
            json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n",
        )

    def write_experiment(self, tags: dict) -> None:
        _atomic_text(
            self.path / self.EXPERIMENT, json.dumps(tags, indent=2, ensure_ascii=False) + "\n"
        )

    def log_event(self, event: Event) -> None:
        with open(self.path / self.METRICS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event_dict(event), ensure_ascii=False) + "\n")
        if isinstance(event, EpochReport):
            path = self.path / self.EPOCHS
            row = event_dict(event)
            del row["event"]
            new = not path.exists()
            with open(path, "a", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)

    def log(self, text: str) -> None:
        with open(self.path / self.LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> Path:
        path = self.checkpoint_path(name)
        atomic_torch_save(state, path)
        return path

    def save_snapshot(self, index: int, state: dict[str, Any]) -> Path | None:
        (self.path / "snapshots").mkdir(exist_ok=True)
        path = self.path / "snapshots" / f"snapshot_{index}.pt"
        atomic_torch_save(state, path)
        return path


class SilentRunDir(RunDir):
    """What ranks other than 0 use under DDP: nothing is written."""

    def __init__(self) -> None:
        self.path = Path()

    def write_setup(self, project: Project, config: TrainConfig) -> None:
        return None

    def log_event(self, event: Event) -> None:
        return None

    def log(self, text: str) -> None:
        return None

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> Path:
        return self.checkpoint_path(name)

    def save_snapshot(self, index: int, state: dict[str, Any]) -> Path | None:
        return None


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch  # here: reading a run folder needs no torch

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
