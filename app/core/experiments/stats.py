"""Seed statistics: mean with a Student-t confidence interval, and Welch's comparison of two
groups of runs (is a difference larger than the seed-to-seed spread?). Pure Python: the
window's comparison table uses it without numpy or torch."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: two-sided 95% quantiles of Student's t by degrees of freedom (t.ppf(0.975, df))
T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
    17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064,
    25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
}  # fmt: skip
_Z975 = 1.959964


def t95(df: float) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (a fractional df, as
    Welch's gives, rounds down: the wider, safer interval). Beyond the table, the
    Cornish-Fisher expansion (within 0.001 of the exact value for df > 30)."""
    if df < 1:
        raise ValueError("an interval needs at least two values")
    whole = math.floor(df)
    if whole in T95:
        return T95[whole]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * whole)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * whole**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * whole**3)
    )


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` runs with the half-width of its 95% interval (None for one run)."""

    mean: float
    half: float | None
    n: int
    sd: float | None

    @property
    def low(self) -> float:
        return self.mean - (self.half or 0.0)

    @property
    def high(self) -> float:
        return self.mean + (self.half or 0.0)

    def text(self, digits: int = 3, percent: bool = False) -> str:
        scale, unit = (100.0, "%") if percent else (1.0, "")
        d = max(digits - 2, 1) if percent else digits
        head = f"{self.mean * scale:.{d}f}{unit}"
        if self.half is None:
            return head
        return f"{head} ± {self.half * scale:.{d}f}{unit}"


def mean_interval(values: Sequence[float]) -> Interval:
    """Mean and 95% interval ``mean ± t(0.975, n-1) · s / √n`` (s: the sample deviation)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Interval(mean, None, 1, None)
    sd = statistics.stdev(values)
    return Interval(mean, t95(len(values) - 1) * sd / math.sqrt(len(values)), len(values), sd)


@dataclass(frozen=True)
class Difference:
    """``b - a`` with Welch's 95% interval; ``clear`` when the interval excludes zero (the
    difference is larger than the seed spread explains)."""

    delta: float
    half: float | None
    df: float | None

    @property
    def clear(self) -> bool:
        return self.half is not None and abs(self.delta) > self.half

    def text(self, percent: bool = False) -> str:
        scale, unit, d = (100.0, " pts", 1) if percent else (1.0, "", 3)
        head = f"{self.delta * scale:+.{d}f}{unit}"
        if self.half is None:
            return f"{head} (one run each: no interval)"
        verdict = "beyond the seed spread" if self.clear else "within the seed spread"
        return f"{head} ± {self.half * scale:.{d}f} ({verdict})"


def welch(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Welch's interval for the difference of two means with unequal variances."""
    ia, ib = mean_interval(a), mean_interval(b)
    delta = ib.mean - ia.mean
    if ia.sd is None or ib.sd is None:
        return Difference(delta, None, None)
    va, vb = ia.sd**2 / ia.n, ib.sd**2 / ib.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(delta, 0.0, float(ia.n + ib.n - 2))
    df = (va + vb) ** 2 / (va**2 / (ia.n - 1) + vb**2 / (ib.n - 1))
    return Difference(delta, t95(df) * se, df)
