"""Min/max decimation of long curves for plotting: at most a few thousand points that keep
every bucket's extremes, so spikes survive (a plain stride would drop them)."""

from __future__ import annotations

import math

import numpy as np


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
