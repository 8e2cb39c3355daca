"""A sweep as a job of the training process: the window's queue hands one to
:class:`~app.core.training.session.ProcessRun` (``job=drive_sweep``), and the process runs
its trials one after another, putting the sweep's records and every run's events on the
queue the window reads (the live curves follow the current run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.experiments.space import SweepError
from app.core.experiments.sweep import SweepSpec, run_sweep
from app.core.serialization import loads
from app.core.training.config import TrainConfig
from app.core.training.events import RunControl, RunFailed, Status


def drive_sweep(request, put: Callable[[Any], None], control: RunControl) -> None:
    """``request.options['sweep']`` is a :meth:`SweepSpec.to_dict`."""
    project = loads(request.project_json)
    config = TrainConfig.from_dict(request.config)
    try:
        spec = SweepSpec.from_dict(request.options["sweep"])
        put(Status("opening the sweep's study…"))
        for event in run_sweep(
            project,
            config,
            spec,
            runs_root=Path(request.runs_root) if request.runs_root else None,
            control=control,
        ):
            put(event)
    except SweepError as exc:
        put(RunFailed("sweep", str(exc), 0, ""))
