"""Faults injected into real training runs. Each must end with a clear message, leave a
consistent run directory (metrics log ending in the failure, loadable checkpoint), and the
run must resume from its last good checkpoint to completion."""

from __future__ import annotations

import errno
import json
import math
import random

import pytest
import torch

import presets
from app.core.training import prepared as prepared_module
from app.core.training import rundir as rundir_module
from app.core.training.augment import Augmenter
from app.core.training.config import TrainConfig
from app.core.training.data import TensorSplit
from app.core.training.engine import Trainer
from app.core.training.events import RunControl, RunFailed, RunFinished, StepReport
from tests.helpers import SMALL_TRAINING as SMALL
from tests.helpers import relu_net

STEPS_PER_EPOCH = 512 // 32


def lenet():
    return presets.get("lenet5").build()


def start(tmp_path, control=None):
    trainer = Trainer(
        lenet(), TrainConfig.from_dict(SMALL), name="t", runs_root=tmp_path, control=control
    )
    return trainer, list(trainer.run())


def assert_consistent_and_resumable(trainer, failure: RunFailed, graph=None) -> None:
    """The run folder tells the story, and the run finishes from its last checkpoint."""
    folder = trainer.run_dir.path
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "RunFailed"
    assert f"FAILED ({failure.kind})" in (folder / "run.log").read_text()
    last = torch.load(folder / "checkpoints" / "last.pt", weights_only=False)
    assert last["step"] == STEPS_PER_EPOCH  # the end of epoch 1: the last good state
    resumed = Trainer(graph or lenet(), TrainConfig.from_dict(SMALL), run_dir=folder)
    events = list(resumed.run())
    assert events[0].start_step == STEPS_PER_EPOCH
    assert isinstance(events[-1], RunFinished) and events[-1].reason == "completed"
    assert events[-1].step == 2 * STEPS_PER_EPOCH


def after_steps(n: int):
    """A predicate that becomes true on its (n+1)-th call."""
    calls = {"n": 0}

    def due() -> bool:
        calls["n"] += 1
        return calls["n"] > n

    return due


def test_nan_in_the_data(tmp_path, monkeypatch):
    real = Augmenter.train
    due = after_steps(STEPS_PER_EPOCH + 3)

    def poisoned(self, images, labels, classes):
        x, y = real(self, images, labels, classes)
        return (x * float("nan"), y) if due() else (x, y)

    monkeypatch.setattr(Augmenter, "train", poisoned)
    trainer, events = start(tmp_path)
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.kind == "nan"
    assert "the loss became nan" in failed.message and "checkpoint of epoch 1 is kept" in (
        failed.message
    )
    monkeypatch.setattr(Augmenter, "train", real)
    assert_consistent_and_resumable(trainer, failed)


def test_exploding_learning_rate(tmp_path):
    control = RunControl()
    trainer = Trainer(
        relu_net(), TrainConfig.from_dict(SMALL), name="t", runs_root=tmp_path, control=control
    )
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, StepReport) and event.step >= STEPS_PER_EPOCH + 2:
            control.set_lr_scale(2000.0)  # the LR explodes in epoch 2 (0.05 → 100)
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.kind == "nan"
    assert failed.node_id and "Lower the learning rate" in failed.message
    assert_consistent_and_resumable(trainer, failed, relu_net())


def test_out_of_memory(tmp_path, monkeypatch):
    real = prepared_module.compile_graph

    def compile_then_fill_up(graph, report=None):
        model = real(graph, report)
        forward = model.forward
        calls = {"n": 0}

        def maybe_oom(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == STEPS_PER_EPOCH + 5:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return forward(*args, **kwargs)

        model.forward = maybe_oom
        return model

    monkeypatch.setattr(prepared_module, "compile_graph", compile_then_fill_up)
    trainer, events = start(tmp_path)
    failed = events[-1]
    assert failed.kind == "oom" and "try batch size 16" in failed.message
    monkeypatch.setattr(prepared_module, "compile_graph", real)
    assert_consistent_and_resumable(trainer, failed)


def test_an_exception_in_the_dataset(tmp_path, monkeypatch):
    real = TensorSplit.batches
    due = after_steps(STEPS_PER_EPOCH + 3)

    def unreliable(self, *args, **kwargs):
        for batch in real(self, *args, **kwargs):
            if kwargs.get("shuffle") and due():
                raise OSError("image 1234 is unreadable (truncated JPEG)")
            yield batch

    monkeypatch.setattr(TensorSplit, "batches", unreliable)
    trainer, events = start(tmp_path)
    failed = events[-1]
    assert failed.kind == "error" and "image 1234 is unreadable" in failed.message
    monkeypatch.setattr(TensorSplit, "batches", real)
    assert_consistent_and_resumable(trainer, failed)


def test_disk_full_while_writing_a_checkpoint(tmp_path, monkeypatch):
    real = rundir_module.atomic_torch_save
    calls = {"n": 0}

    def full_disk(obj, path):
        calls["n"] += 1
        if calls["n"] > 2:  # epoch 1's best and last are written; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, path)

    monkeypatch.setattr(rundir_module, "atomic_torch_save", full_disk)
    trainer, events = start(tmp_path)
    failed = events[-1]
    assert failed.kind == "checkpoint"
    assert "No space left on device" in failed.message and "previous one is kept" in (
        failed.message
    )
    leftovers = list((trainer.run_dir.path / "checkpoints").glob(".*tmp"))
    assert leftovers == []  # no half-written file left behind
    monkeypatch.setattr(rundir_module, "atomic_torch_save", real)
    assert_consistent_and_resumable(trainer, failed)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stop_at_a_random_step_then_resume(tmp_path, seed):
    stop_at = random.Random(seed).randrange(1, 2 * STEPS_PER_EPOCH - 1)
    control = RunControl()
    trainer = Trainer(
        lenet(),
        TrainConfig.from_dict({**SMALL, "report_every": 1}),
        name="t",
        runs_root=tmp_path,
        control=control,
    )
    for event in trainer.run():
        if isinstance(event, StepReport) and event.step >= stop_at:
            control.stop()
    folder = trainer.run_dir.path
    last = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "RunFinished" and last["reason"] == "stopped"
    assert last["step"] == stop_at
    resumed = Trainer(lenet(), TrainConfig.from_dict({**SMALL, "report_every": 1}), run_dir=folder)
    events = list(resumed.run())
    assert events[0].start_step == stop_at
    assert events[-1].reason == "completed" and events[-1].step == 2 * STEPS_PER_EPOCH


def interactive(tmp_path, control: RunControl) -> Trainer:
    """A run as the app makes it: a NaN/Inf loss pauses instead of ending the run."""
    return Trainer(
        relu_net(),
        TrainConfig.from_dict(SMALL),
        name="t",
        runs_root=tmp_path,
        control=control,
        pause_on_nonfinite=True,
    )


def test_a_nan_pauses_the_app_run_which_resumes_from_the_last_good_checkpoint(tmp_path):
    """The LR explodes in epoch 2: the weights go back to the end of epoch 1 and the run
    waits; the user lowers the LR and resumes; the run completes and its curves have no
    trace of the undone steps."""
    from app.core.training.events import Diverged, Paused, Resumed
    from app.core.training.metrics import RunMetrics

    control = RunControl()
    trainer = interactive(tmp_path, control)
    metrics = RunMetrics()
    events = []
    for event in trainer.run():
        events.append(event)
        metrics.add(event)
        at = isinstance(event, StepReport) and event.step == STEPS_PER_EPOCH + 4
        if at and not metrics.diverged:
            control.set_lr_scale(2000.0)  # 0.05 → 100, once
        if isinstance(event, Diverged):
            assert control.paused  # the engine paused itself before saying so
            assert event.resume_step == STEPS_PER_EPOCH and event.node_id
            assert event.step > STEPS_PER_EPOCH + 4 and event.lr == pytest.approx(100.0)
            assert "went back to the checkpoint of epoch 1" in event.message
            assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
            assert len(metrics.diverged) == 1 and metrics.diverged[0] is event
            control.set_lr_scale(1.0)  # what the user does from the panel
            control.resume()
    kinds = [type(e).__name__ for e in events]
    at = kinds.index("Diverged")
    assert kinds[at : at + 3] == ["Diverged", "Paused", "Resumed"]
    assert isinstance(events[at + 1], Paused) and isinstance(events[at + 2], Resumed)
    assert events[at + 2].step == STEPS_PER_EPOCH
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.reason == "completed"
    assert finished.step == 2 * STEPS_PER_EPOCH and finished.epochs_done == 2
    # the curves: every step once, in order, all finite (the undone ones were dropped)
    steps = metrics.steps.values
    assert list(steps) == list(range(2 * STEPS_PER_EPOCH))
    assert all(map(math.isfinite, metrics.losses.values))
    assert len(metrics.smoothed) == len(steps) and [e.epoch for e in metrics.epochs] == [1, 2]
    # the log tells the same story to a reader of the run folder (history overlay)
    reloaded = RunMetrics.from_run_dir(trainer.run_dir.path)
    assert list(reloaded.steps.values) == list(steps) and len(reloaded.diverged) == 1
    assert "DIVERGED" in (trainer.run_dir.path / "run.log").read_text()


def test_a_nan_before_any_checkpoint_goes_back_to_the_start_and_stop_keeps_it(tmp_path):
    from app.core.training.events import Diverged

    control = RunControl()
    trainer = interactive(tmp_path, control)
    initial = None
    events = []
    for event in trainer.run():
        events.append(event)
        if initial is None and trainer.model is not None:
            initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        if isinstance(event, StepReport) and event.step == 4:
            control.set_lr_scale(2000.0)
        if isinstance(event, Diverged):
            assert event.resume_step == 0 and "the start" in event.message
            control.stop()  # the user gives up on this run
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.reason == "stopped"
    assert finished.step == 0
    last = torch.load(trainer.run_dir.path / "checkpoints" / "last.pt", weights_only=False)
    assert last["step"] == 0
    for name, value in last["model"].items():  # the initial weights, not the NaN ones
        torch.testing.assert_close(value, initial[name])
