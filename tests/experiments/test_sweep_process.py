"""A sweep runs as a job of the training process, as the window's queue starts it."""

from __future__ import annotations

import time

import presets
from app.core.experiments.session import drive_sweep
from app.core.experiments.sweep import SweepFinished, SweepSpec, TrialFinished, TrialStarted
from app.core.serialization import to_json
from app.core.training.config import TrainConfig
from app.core.training.events import EpochReport, RunFailed, RunStarted
from app.core.training.session import ProcessRun
from tests.experiments.test_sweep import TINY


def _records(handle) -> list:
    handle.start()
    out: list = []
    end = time.monotonic() + 240
    while time.monotonic() < end:
        batch = handle.get(timeout=0.5)
        if batch is None:
            break
        out.extend(batch)
    handle.join(30)
    return out


def test_the_training_process_runs_a_sweep_and_reports_each_trial(tmp_path):
    project = presets.get("lenet5").project()
    spec = SweepSpec(("lr=0.01,0.05",), "grid", seeds=1, name="queued")
    handle = ProcessRun(
        to_json(project),
        TrainConfig.from_dict(TINY),
        name="queued",
        runs_root=tmp_path,
        job=drive_sweep,
        options={"sweep": spec.to_dict()},
    )
    records = _records(handle)
    kinds = [type(r).__name__ for r in records]
    assert kinds.count("TrialStarted") == 2 and kinds.count("RunStarted") == 2
    assert kinds.count("TrialFinished") == 2 and isinstance(records[-1], SweepFinished)
    # each run's events come between its trial's start and end, so the curves can follow
    first = kinds.index("TrialStarted")
    assert kinds.index("RunStarted") > first
    assert kinds.index("EpochReport") < kinds.index("TrialFinished")
    assert [r.point["lr"] for r in records if isinstance(r, TrialStarted)] == [0.01, 0.05]
    assert all(r.state == "complete" for r in records if isinstance(r, TrialFinished))
    assert sum(isinstance(r, EpochReport) for r in records) == 2
    assert all(str(tmp_path) in r.run_dir for r in records if isinstance(r, RunStarted))


def test_a_bad_sweep_fails_with_its_reason(tmp_path):
    project = presets.get("lenet5").project()
    spec = SweepSpec(("conv9.out_channels=4,8",), "grid")
    handle = ProcessRun(
        to_json(project), TrainConfig.from_dict(TINY), runs_root=tmp_path, job=drive_sweep,
        options={"sweep": spec.to_dict()},
    )  # fmt: skip
    records = _records(handle)
    failures = [r for r in records if isinstance(r, RunFailed)]
    assert len(failures) == 1 and failures[0].kind == "sweep"
    assert "no block 'conv9'" in failures[0].message
