"""Learning-rate schedules as pure functions of the step, so a run's whole LR curve can be
previewed before training and the loop just sets ``lr = schedule(step)``.

Each schedule is a spec in the options registry whose function lives in
``portable/schedules.py``, which exported training scripts copy: the engine, the preview and
``train.py`` compute the same curve. Torch-free (the window previews it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from app.core.training.config import TrainConfig
from app.core.training.options import SCHEDULES
from app.core.training.portable.schedules import lr_at

Schedule = Callable[[int], float]


def schedule_arguments(config: TrainConfig) -> dict[str, object]:
    """The keyword arguments of :func:`lr_at` besides the step and the steps per epoch."""
    spec = SCHEDULES[config.schedule]
    return {
        "schedule": spec.function,
        "lr": config.lr,
        "epochs": config.epochs,
        "warmup_epochs": config.warmup_epochs,
        **spec.arguments(config),
    }


def build_schedule(config: TrainConfig, steps_per_epoch: int) -> Schedule:
    """The LR at every optimiser step ``0 … epochs·steps_per_epoch − 1``."""
    return functools.partial(lr_at, spe=max(1, steps_per_epoch), **schedule_arguments(config))  # type: ignore[arg-type]


def cycle_ends(config: TrainConfig, steps_per_epoch: int) -> list[int]:
    """Steps after which a cosine cycle ends (where snapshot ensembles take their snapshots)."""
    total = config.epochs * max(1, steps_per_epoch)
    warm = config.warmup_epochs * max(1, steps_per_epoch)
    if not config.snapshots:
        return []
    length = max(1, (total - warm) // config.snapshots)
    return [warm + length * (i + 1) - 1 for i in range(config.snapshots)]


def preview(config: TrainConfig, steps_per_epoch: int) -> list[float]:
    """The LR of every step of the planned run (for plotting before training)."""
    schedule = build_schedule(config, steps_per_epoch)
    return [schedule(s) for s in range(config.epochs * max(1, steps_per_epoch))]
