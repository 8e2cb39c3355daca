"""Learning-rate schedules as pure functions of the step, so a run's whole LR curve can be
previewed before training and the loop just sets ``lr = schedule(step)``.

Epoch-based schedules (step, multistep, exponential, C/epoch) change at epoch boundaries, as
PyTorch's schedulers stepped once per epoch do; cosine, SGDR and one-cycle are smooth per step.
Linear warm-up runs first, then the schedule over the remaining steps.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

from app.core.training.config import TrainConfig

Schedule = Callable[[int], float]


def build_schedule(config: TrainConfig, steps_per_epoch: int) -> Schedule:
    """The LR at every optimiser step ``0 … epochs·steps_per_epoch − 1``."""
    lr = config.lr
    spe = max(1, steps_per_epoch)
    total = config.epochs * spe
    warm = min(config.warmup_epochs * spe, total - 1) if config.warmup_epochs else 0
    body = _body(config, spe, max(1, total - warm))
    if not warm:
        return body

    def warmed(step: int) -> float:
        if step < warm:
            return lr * (step + 1) / warm
        return body(step - warm)

    return warmed


def _body(c: TrainConfig, spe: int, total: int) -> Schedule:
    lr, kind = c.lr, c.schedule
    if kind == "constant":
        return lambda step: lr
    if kind == "step":
        return lambda step: lr * c.gamma ** ((step // spe) // c.step_size)
    if kind == "multistep":
        marks = sorted(c.milestones)
        return lambda step: lr * c.gamma ** bisect.bisect_right(marks, step // spe)
    if kind == "exponential":
        return lambda step: lr * c.gamma ** (step // spe)
    if kind == "inverse_epoch":  # C / epoch, epochs counted from 1
        return lambda step: lr / (step // spe + 1)
    if kind == "inverse_sqrt":  # C / sqrt(iteration), iterations counted from 1
        return lambda step: lr / math.sqrt(step + 1)
    if kind == "cosine":
        if c.snapshots:
            return _restarts(lr, c.eta_min, max(1, total // c.snapshots), 1)
        return lambda step: (
            c.eta_min + (lr - c.eta_min) * (1 + math.cos(math.pi * step / total)) / 2
        )
    if kind == "cosine_restarts":
        return _restarts(lr, c.eta_min, c.restart_period * spe, c.restart_mult)
    if kind == "one_cycle":
        return _one_cycle(lr, total, c.pct_start)
    raise ValueError(f"unknown schedule {kind!r}")


def _restarts(lr: float, eta_min: float, period: int, mult: int) -> Schedule:
    """SGDR (Loshchilov & Hutter): cosine from lr to eta_min, restarting after each cycle."""

    def at(step: int) -> float:
        length, t = period, step
        while t >= length:
            t -= length
            length *= mult
        return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / length)) / 2

    return at


def cycle_ends(config: TrainConfig, steps_per_epoch: int) -> list[int]:
    """Steps after which a cosine cycle ends (where snapshot ensembles take their snapshots)."""
    total = config.epochs * max(1, steps_per_epoch)
    warm = config.warmup_epochs * max(1, steps_per_epoch)
    if not config.snapshots:
        return []
    length = max(1, (total - warm) // config.snapshots)
    return [warm + length * (i + 1) - 1 for i in range(config.snapshots)]


def _one_cycle(max_lr: float, total: int, pct: float) -> Schedule:
    """Smith's one-cycle policy with cosine phases, as torch's OneCycleLR (three_phase=False):
    max_lr/25 → max_lr over pct·total steps, then → max_lr/25/1e4."""
    initial, final = max_lr / 25.0, max_lr / 25.0 / 1e4
    up_end = float(pct * total) - 1
    down_end = float(total) - 1

    def cos(start: float, end: float, frac: float) -> float:
        return end + (start - end) * (1 + math.cos(math.pi * frac)) / 2

    def at(step: int) -> float:
        if step <= up_end:
            return cos(initial, max_lr, step / up_end if up_end > 0 else 1.0)
        return cos(max_lr, final, (step - up_end) / (down_end - up_end))

    return at


def preview(config: TrainConfig, steps_per_epoch: int) -> list[float]:
    """The LR of every step of the planned run (for plotting before training)."""
    schedule = build_schedule(config, steps_per_epoch)
    return [schedule(s) for s in range(config.epochs * max(1, steps_per_epoch))]
