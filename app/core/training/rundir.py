"""A run directory: the graph, the config, metrics (JSON lines and CSV) and checkpoints.

    runs/20261122-054800-resnet18_cifar/
        project.json  config.json  metrics.jsonl  epochs.csv  run.log
        checkpoints/last.pt  checkpoints/best.pt  snapshots/snapshot_1.pt …

Checkpoints are written atomically (temporary file, then rename), so a failure while saving
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from app.core.serialization import Project, save
from app.core.training.config import TrainConfig
from app.core.training.events import EpochReport, Event, event_dict
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


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)

    def write_setup(self, project: Project, config: TrainConfig) -> None:
        save(project, self.path / "project.json")
        _atomic_text(
            self.path / "config.json",
            json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n",
        )

    def log_event(self, event: Event) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event_dict(event), ensure_ascii=False) + "\n")
        if isinstance(event, EpochReport):
            path = self.path / "epochs.csv"
            row = event_dict(event)
            del row["event"]
            new = not path.exists()
            with open(path, "a", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    writer.writeheader()
                writer.writerow(row)

    def log(self, text: str) -> None:
        with open(self.path / "run.log", "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

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
