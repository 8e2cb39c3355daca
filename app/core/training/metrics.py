"""The metrics of a run as growing arrays, fed with the engine's events; min/max decimation for
plotting long runs; a finished run read back through its RunDir."""

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


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = 10_000) -> tuple[np.ndarray, ...]:
    """At most ``max_points`` points that keep every bucket's minimum and maximum, in order, so
    spikes survive (a plain stride would drop them)."""
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 2)
    per = math.ceil(n / buckets)
    pad = buckets * per - n
    yy = np.concatenate([y, np.full(pad, np.nan)]) if pad else y
    idx = _min_max(yy.reshape(buckets, per), per)  # sorted: buckets and pairs in order
    idx = idx[idx < n]
    return x[idx], y[idx]


class Decimator:
    """Min/max decimation of one growing series, incremental: a call costs O(new points +
    max_points), not O(all points), so a redraw costs the same after a million steps.

    The points folded so far form complete buckets of ``per`` points, each represented by
    its minimum and maximum (in order); when there are more buckets than fit, neighbours
    merge and ``per`` doubles. The unfinished tail bucket is represented the same way. Non-
    finite values are never kept. A series that got shorter (a run rolled back) starts
    over."""

    def __init__(self, max_points: int = 10_000) -> None:
        self.buckets = max(2, max_points // 2)
        self.reset()

    def reset(self) -> None:
        self.per = 1
        self.done = 0  # points folded into complete buckets
        self.kept = np.empty(0, dtype=np.int64)  # two indices per complete bucket

    def indices(self, y: np.ndarray) -> np.ndarray:
        """Sorted indices of the points of ``y`` to draw."""
        n = len(y)
        if n < self.done:
            self.reset()
        if self.per == 1 and n <= 2 * self.buckets:  # small: every finite point
            self.done = 0
            return np.flatnonzero(np.isfinite(y))
        if self.per == 1:  # first time over: start with buckets that fit
            self.per = math.ceil(n / self.buckets)
        while True:
            count = (n - self.done) // self.per
            if count:
                start = self.done
                rows = y[start : start + count * self.per].reshape(count, self.per)
                self.kept = np.concatenate([self.kept, start + _min_max(rows, self.per)])
                self.done += count * self.per
            if len(self.kept) // 2 <= self.buckets:
                break
            self._merge(y)
        tail = y[self.done :]
        idx = self.kept
        if len(tail):
            idx = np.concatenate([idx, self.done + _min_max(tail.reshape(1, -1), len(tail))])
        # sorted already (buckets in order, each bucket's pair in order): drop the repeats of
        # a bucket whose minimum and maximum are one point, and non-finite points
        keep = np.isfinite(y[idx])
        keep[1:] &= idx[1:] != idx[:-1]
        return idx[keep]

    def _merge(self, y: np.ndarray) -> None:
        """Pairs of buckets become one of twice the size; an odd last bucket is unfolded
        (its points are folded again with the new size)."""
        pairs = len(self.kept) // 4
        quads = self.kept[: pairs * 4].reshape(pairs, 4)
        values = y[quads]
        finite = np.isfinite(values)
        rows = np.arange(pairs)
        a = quads[rows, np.where(finite, values, np.inf).argmin(1)]
        b = quads[rows, np.where(finite, values, -np.inf).argmax(1)]
        self.kept = np.stack([np.minimum(a, b), np.maximum(a, b)], 1).ravel()
        self.done = pairs * 2 * self.per
        self.per *= 2


def _min_max(rows: np.ndarray, per: int) -> np.ndarray:
    """Per row, the offsets (from the row's first point) of its minimum and maximum, in
    order, flattened; non-finite values are never picked while a finite one exists."""
    finite = np.isfinite(rows)
    lo = np.where(finite, rows, np.inf).argmin(1)
    hi = np.where(finite, rows, -np.inf).argmax(1)
    base = np.arange(len(rows)) * per
    return np.stack([base + np.minimum(lo, hi), base + np.maximum(lo, hi)], 1).ravel()


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
