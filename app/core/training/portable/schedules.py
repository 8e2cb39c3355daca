"""Learning-rate schedules as pure functions of the optimiser step (no torch).

Every schedule has the signature ``f(step, lr, spe, total, **arguments)``: ``lr`` is
the peak rate, ``spe`` the steps per epoch and ``total`` the steps the schedule spans
(the run less its warm-up). The engine sets ``lr_at(step, ...)`` before every step, and
exported training scripts copy these functions and do the same: one curve for both.

Epoch-based schedules (step, multistep, exponential, C/epoch) change at epoch
boundaries, as PyTorch's schedulers stepped once per epoch do; cosine, SGDR and
one-cycle are smooth per step.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable


def lr_at(
    step: int,
    schedule: Callable[..., float],
    lr: float,
    spe: int,
    epochs: int,
    warmup_epochs: int,
    **arguments: object,
) -> float:
    """The LR of optimiser step ``step``: linear warm-up from 0 over ``warmup_epochs``,
    then ``schedule`` over the remaining steps."""
    spe = max(1, spe)
    total = epochs * spe
    warm = min(warmup_epochs * spe, total - 1) if warmup_epochs else 0
    if step < warm:
        return lr * (step + 1) / warm
    return schedule(step - warm, lr, spe, max(1, total - warm), **arguments)


def constant_lr(step: int, lr: float, spe: int, total: int) -> float:
    """The same rate throughout."""
    return lr


def step_lr(
    step: int, lr: float, spe: int, total: int, gamma: float, step_size: int
) -> float:
    """× gamma every ``step_size`` epochs."""
    return lr * gamma ** ((step // spe) // step_size)


def multistep_lr(
    step: int,
    lr: float,
    spe: int,
    total: int,
    gamma: float,
    milestones: tuple[int, ...],
) -> float:
    """× gamma at each milestone epoch."""
    return lr * gamma ** bisect.bisect_right(sorted(milestones), step // spe)


def exponential_lr(step: int, lr: float, spe: int, total: int, gamma: float) -> float:
    """× gamma every epoch."""
    return lr * gamma ** (step // spe)


def inverse_epoch_lr(step: int, lr: float, spe: int, total: int) -> float:
    """C / epoch, epochs counted from 1."""
    return lr / (step // spe + 1)


def inverse_sqrt_lr(step: int, lr: float, spe: int, total: int) -> float:
    """C / sqrt(iteration), iterations counted from 1."""
    return lr / math.sqrt(step + 1)


def cosine_lr(
    step: int, lr: float, spe: int, total: int, eta_min: float, cycles: int = 0
) -> float:
    """Half a cosine from ``lr`` to ``eta_min`` over the run, or over each of ``cycles``
    equal cycles (snapshot ensembles: a restart after each)."""
    length = max(1, total // cycles) if cycles else total
    t = step % length if cycles else step
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / length)) / 2


def cosine_restarts_lr(
    step: int, lr: float, spe: int, total: int, eta_min: float, period: int, mult: int
) -> float:
    """SGDR (Loshchilov & Hutter): cosine from ``lr`` to ``eta_min``, restarting after
    each cycle; the first lasts ``period`` epochs, each next ``mult`` times longer."""
    length, t = period * spe, step
    while t >= length:
        t -= length
        length *= mult
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / length)) / 2


def one_cycle_lr(step: int, lr: float, spe: int, total: int, pct_start: float) -> float:
    """Smith's one-cycle policy with cosine phases, as torch's OneCycleLR
    (three_phase=False): lr/25 → lr over pct_start·total steps, then → lr/25/1e4."""
    initial, final = lr / 25.0, lr / 25.0 / 1e4
    up_end = float(pct_start * total) - 1
    down_end = float(total) - 1
    if step <= up_end:
        start, end, frac = initial, lr, step / up_end if up_end > 0 else 1.0
    else:
        start, end, frac = lr, final, (step - up_end) / (down_end - up_end)
    return end + (start - end) * (1 + math.cos(math.pi * frac)) / 2
