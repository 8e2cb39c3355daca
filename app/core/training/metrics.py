"""The metrics of a run as growing arrays, fed with the engine's events, or read back from a
finished run's folder through its RunDir. (Decimating them for plotting: ``decimate.py``.)"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

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
)
from app.core.training.rundir import RunDir


class Series:
    """A growing float64 array (amortised O(1) appends, no Python float lists)."""

    def __init__(self) -> None:
        self._data = np.empty(1024)
        self.size = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64)
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)))
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        self.size = need

    def truncate(self, size: int) -> None:
        self.size = max(0, min(size, self.size))

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]

    def __len__(self) -> int:
        return self.size


class RunMetrics:
    """Everything plotted for one run."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.steps, self.losses, self.lrs = Series(), Series(), Series()
        self.tick_steps, self.throughput, self.train_acc = Series(), Series(), Series()
        self.epochs: list[EpochReport] = []
        self.layers: dict[str, LayerStat] = {}
        self.started: RunStarted | None = None
        self.last: StepReport | None = None
        self.end: RunFinished | RunFailed | None = None
        self.diverged: list[Diverged] = []  # NaN/Inf pauses, in order
        self._rollback: int | None = None  # the step a divergence went back to
        self.rewinds = 0  # how many times the series were cut back (views start over)
        self._smooth = (0.0, 0.0)  # EMA accumulator and its bias-correcting normaliser
        self.smoothed = Series()

    def add(self, event: Event) -> None:
        if isinstance(event, StepReport):
            self.steps.extend(event.steps)
            self.losses.extend(event.losses)
            self.lrs.extend(event.lrs)
            self.tick_steps.extend([event.step])
            self.throughput.extend([event.images_per_sec])
            self.train_acc.extend([event.train_acc])
            self._extend_smoothed(event.losses)
            if event.layers:
                self.layers = {s.node_id: s for s in event.layers}
            self.last = event
        elif isinstance(event, EpochReport):
            self.epochs.append(event)
        elif isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, Diverged):
            self.diverged.append(event)
            self._rollback = event.resume_step
        elif isinstance(event, Resumed) and self._rollback is not None:
            self.rewind(self._rollback)  # the steps after the good state were undone
            self._rollback = None
        elif isinstance(event, RunFinished | RunFailed):
            self.end = event

    def rewind(self, step: int) -> None:
        """Forget everything after ``step`` steps (a run went back to its last good state)."""
        self.rewinds += 1
        keep = int(np.searchsorted(self.steps.values, step))  # step indices are 0-based
        for series in (self.steps, self.losses, self.lrs):
            series.truncate(keep)
        ticks = int(np.searchsorted(self.tick_steps.values, step, side="right"))
        for series in (self.tick_steps, self.throughput, self.train_acc):
            series.truncate(ticks)
        self.epochs = [e for e in self.epochs if e.step <= step]
        self._smooth = (0.0, 0.0)
        self.smoothed.truncate(0)
        self._extend_smoothed(self.losses.values.copy())
        if self.last is not None and self.last.step > step:  # a report of undone steps
            self.last = None

    def _extend_smoothed(self, losses, weight: float = 0.95) -> None:
        acc, norm = self._smooth
        out = []
        for v in losses:
            if math.isfinite(v):
                acc = weight * acc + (1 - weight) * v
                norm = weight * norm + (1 - weight)
            out.append(acc / norm if norm else v)
        self._smooth = (acc, norm)
        self.smoothed.extend(out)

    def epoch_series(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """(global step at the end of each epoch, the field's values)."""
        return (
            np.array([e.step for e in self.epochs], dtype=np.float64),
            np.array([getattr(e, field) for e in self.epochs], dtype=np.float64),
        )

    @classmethod
    def from_run_dir(cls, path: Path) -> RunMetrics:
        """A finished (or crashed) run's metrics, read back from its folder."""
        metrics = cls(Path(path).name)
        for event in RunDir(path, create=False).events():
            metrics.add(event)
        return metrics
