"""The window's queue of experiments, kept between sessions.

Each queued experiment is a snapshot (the project and settings when it was queued, and its
sweep), with how far it got: its state, its trials so far. The window writes the queue to
``experiments_queue.json`` in the runs folder whenever it changes, and reads it when it
starts, so closing the window (or a crash) loses no plan: an experiment that was running is
back as stopped, and Continue Queue goes on with the points its sweep has left (the sweep's
study is in the same runs folder). A file that cannot be read is set aside, never
overwritten, and the window says so.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.experiments.sweep import SweepSpec, TrialFinished
from app.core.training.config import TrainConfig
from app.core.training.paths import default_runs_root

__all__ = ["QUEUE_FILE", "QueueItem", "load_queue", "queue_path", "save_queue"]

QUEUE_FILE = "experiments_queue.json"
FORMAT = 1
STATES = ("queued", "running", "stopped", "done", "failed")


@dataclass
class QueueItem:
    """One experiment in the queue: a snapshot of the document and settings when queued."""

    title: str
    project_json: str
    config: TrainConfig
    spec: SweepSpec
    state: str = "queued"  # queued, running, stopped, done, failed
    message: str = ""
    total: int = 0
    trials: dict[int, TrialFinished] = field(default_factory=dict)

    @property
    def runs(self) -> list[str]:
        """The run folders of its finished trials (not those of a run stopped mid-way)."""
        return [d for t in self.trials.values() if t.state == "complete" for d in t.run_dirs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "project": json.loads(self.project_json),
            "config": self.config.to_dict(),
            "spec": self.spec.to_dict(),
            "state": self.state,
            "message": self.message,
            "total": self.total,
            "trials": [asdict(t) for t in self.trials.values()],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> QueueItem:
        state = values.get("state", "queued")
        if state not in STATES:
            raise ValueError(f"state: expected one of {', '.join(STATES)}, got {state!r}")
        trials = {}
        for t in values.get("trials", []):
            t = {
                **t,
                "values": tuple(t.get("values", ())),
                "run_dirs": tuple(t.get("run_dirs", ())),
            }
            trials[int(t["trial"])] = TrialFinished(**t)
        return cls(
            str(values["title"]),
            json.dumps(values["project"]),
            TrainConfig.from_dict(values["config"]),
            SweepSpec.from_dict(values["spec"]),
            state,
            str(values.get("message", "")),
            int(values.get("total", 0)),
            trials,
        )


def queue_path(runs_root: Path | None = None) -> Path:
    """Where the window keeps its queue: beside the runs and their sweeps."""
    return Path(runs_root or default_runs_root()) / QUEUE_FILE


def save_queue(items: list[QueueItem], path: Path) -> None:
    """Write the queue (atomically: a crash mid-write leaves the previous file); an empty
    queue removes the file."""
    if not items:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "items": [i.to_dict() for i in items]}, indent=1)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def load_queue(path: Path) -> tuple[list[QueueItem], list[str]]:
    """The saved queue and what could not be restored (said plainly). An experiment that was
    running when the window closed comes back stopped. An unreadable file is renamed to
    ``….bad`` so the next save does not overwrite it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"the experiment queue {path} could not be read: {exc.strerror or exc}"]
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise ValueError("no list of items")
        if data.get("format", FORMAT) > FORMAT:
            raise ValueError(f"format {data['format']} is newer than this NetBuilder's")
    except ValueError as exc:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        return [], [f"the experiment queue could not be read ({exc}); it is kept as {bad}"]
    items, problems = [], []
    for number, values in enumerate(data["items"], 1):
        try:
            item = QueueItem.from_dict(values)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # ConfigError too
            title = values.get("title", "?") if isinstance(values, dict) else "?"
            problems.append(f"queued experiment {number} ({title}) left out: {exc}")
            continue
        if item.state == "running":
            item.state, item.message = "stopped", "the window closed while it ran"
        items.append(item)
    if problems:  # the next save would drop them: keep the file as it was
        bad = path.with_name(path.name + ".bad")
        shutil.copyfile(path, bad)
        problems.append(f"the queue as it was is kept as {bad}")
    return items, problems
