"""Runs in a child process or a thread, their metrics, and the results of a finished run."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import presets
from app.core.serialization import Project, to_json
from app.core.training.config import TrainConfig
from app.core.training.decimate import decimate
from app.core.training.events import (
    EpochReport,
    Paused,
    Resumed,
    RunFailed,
    RunFinished,
    RunStarted,
    StepReport,
)
from app.core.training.metrics import RunMetrics
from app.core.training.results import RunResults
from app.core.training.rundir import RunDir
from app.core.training.session import ProcessRun, ThreadRun
from tests.helpers import SMALL_TRAINING as SMALL
from tests.helpers import chain, image


def lenet_json() -> str:
    p = presets.get("lenet5")
    return to_json(Project(p.build(), "LeNet-5"))


def drain(handle, timeout: float = 120.0, on_event=None) -> list:
    events: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = handle.get(timeout=0.2)
        if batch is None:
            return events
        for event in batch:
            events.append(event)
            if on_event:
                on_event(event)
    raise AssertionError(f"the run did not end in {timeout} s: {events[-3:]}")


@pytest.mark.parametrize("kind", [ProcessRun, ThreadRun])
def test_a_run_streams_events_then_results(kind, tmp_path):
    handle = kind(lenet_json(), TrainConfig.from_dict(SMALL), name="LeNet-5", runs_root=tmp_path)
    handle.start()
    events = drain(handle)
    assert handle.join(30)
    kinds = [type(e).__name__ for e in events]
    # what the process is doing comes first (loading, then the first step), then the run
    assert kinds[:3] == ["Status", "RunStarted", "Status"]
    assert kinds[-2:] == ["RunFinished", "RunResults"]
    steps = [e for e in events if isinstance(e, StepReport)]
    # one record per report tick (every 4 steps, and the run's first step), not per step
    assert len(steps) in (2 * 512 // 32 // 4 + 1, 2 * 512 // 32 // 4 + 2)
    assert sum(len(s.losses) for s in steps) == 2 * 512 // 32
    assert [e.epoch for e in events if isinstance(e, EpochReport)] == [1, 2]
    results: RunResults = events[-1]
    assert sum(map(sum, results.confusion)) == 128
    assert results.accuracy == pytest.approx(
        sum(results.confusion[i][i] for i in range(len(results.classes))) / 128
    )
    assert results.checkpoint.endswith("best.pt")
    assert results.images.dtype == np.uint8 and results.images.shape[1:] == (1, 28, 28)
    wrong = [t != p for t, p in zip(results.truth, results.predicted, strict=True)]
    assert wrong == sorted(wrong, reverse=True)  # misclassified first
    assert len(results.per_class_accuracy) == len(results.classes)


def test_pause_resume_and_stop_a_child_process(tmp_path):
    config = TrainConfig.from_dict({**SMALL, "epochs": 50, "train_size": 2048})
    handle = ProcessRun(lenet_json(), config, name="LeNet-5", runs_root=tmp_path)
    handle.start()
    state = {"paused": False, "resumed": False, "stopped": False}

    def control(event):
        if isinstance(event, StepReport) and not state["paused"]:
            state["paused"] = True
            handle.pause()
        elif isinstance(event, Paused):
            time.sleep(0.3)
            handle.resume()
        elif isinstance(event, Resumed):
            state["resumed"] = True
        elif isinstance(event, StepReport) and state["resumed"] and not state["stopped"]:
            state["stopped"] = True
            handle.stop()

    events = drain(handle, on_event=control)
    assert handle.join(30)
    finished = next(e for e in events if isinstance(e, RunFinished))
    assert finished.reason == "stopped" and finished.step < 50 * 2048 // 32
    run_dir = next(e for e in events if isinstance(e, RunStarted)).run_dir
    assert (tmp_path / run_dir.split("/")[-1] / "checkpoints" / "last.pt").exists()
    # a stopped run ends at once, not evaluated (issue 14.6: Stop froze the window for minutes)
    assert type(events[-1]).__name__ == "RunFinished"
    assert [type(e) for e in events if isinstance(e, Paused | Resumed)] == [Paused, Resumed]


def test_a_graph_with_errors_fails_with_a_message(tmp_path):
    g = chain(image(1, 28, 28), ("conv2d", {"kernel_h": 40}), ("output", {}))
    handle = ThreadRun(to_json(Project(g, "bad")), TrainConfig.from_dict(SMALL), runs_root=tmp_path)
    handle.start()
    status, failed = drain(handle)  # "loading…", then the failure
    assert "loading shapes_gray" in status.message
    assert isinstance(failed, RunFailed) and failed.kind == "graph"


def test_metrics_follow_events_and_reload_from_the_run_directory(tmp_path):
    handle = ThreadRun(
        lenet_json(), TrainConfig.from_dict(SMALL), name="LeNet-5", runs_root=tmp_path
    )
    handle.start()
    live = RunMetrics()
    for event in drain(handle):
        live.add(event)
    assert len(live.steps) == len(live.losses) == len(live.lrs) == len(live.smoothed) == 32
    assert len(live.epochs) == 2 and live.end.reason == "completed"
    assert set(live.layers) >= {"conv2d_1", "linear_3"}
    (run,) = RunDir.of_project(tmp_path, "LeNet-5")
    again = RunMetrics.from_run_dir(run)
    np.testing.assert_array_equal(again.losses.values, live.losses.values)
    assert [e.val_acc for e in again.epochs] == [e.val_acc for e in live.epochs]
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"event": "StepReport", "step": 3')  # a crash mid-line is skipped
    assert len(RunMetrics.from_run_dir(run).losses) == 32
    assert RunDir.of_project(tmp_path, "LeNet") == []
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    best = max(e.val_acc for e in live.epochs)
    stamp = run.name
    folder = RunDir(run, create=False)
    assert folder.summary() == (
        f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]} · "
        f"sgd lr 0.05, batch 32, shapes_gray · 2 epochs, best val acc {best:.1%}"
    )
    (run / "config.json").write_text("{not json")
    (run / "epochs.csv").unlink()
    assert folder.summary().endswith(f"{stamp[11:13]} · no epoch completed")
    odd = tmp_path / "my run"
    odd.mkdir()
    assert RunDir(odd, create=False).summary() == "my run · no epoch completed"
    assert RunDir(odd, create=False).label() == "my run"
    assert folder.label() == f"{stamp[9:11]}:{stamp[11:13]}"  # its config.json is damaged
    (run / "config.json").write_text(json.dumps({"optimizer": "adamw", "lr": 0.003}))
    assert folder.label() == f"{stamp[9:11]}:{stamp[11:13]} adamw lr 0.003"


def test_decimation_keeps_extremes_and_bounds_the_points():
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 1000.0)
    y[123_457] = 50.0  # a spike a stride would miss
    y[654_321] = -50.0
    dx, dy = decimate(x, y, 10_000)
    assert len(dx) <= 10_000 and np.all(np.diff(dx) > 0)
    assert dy.max() == 50.0 and dy.min() == -50.0
    small = np.arange(10.0)
    assert decimate(small, small)[0] is small


def test_incremental_decimation_of_a_growing_series():
    """Fed a million points in uneven chunks (as a run's redraws see them), with spikes and
    NaNs: each view is bounded, ordered, finite, keeps the extremes so far, and matches a
    decimation done from scratch on its extremes; a series cut back starts over."""
    from app.core.training.decimate import Decimator

    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=1_000_000))
    y[123_456], y[777], y[5_000:5_010], y[400_000] = 1e6, -1e6, np.nan, np.inf
    decimator, n = Decimator(4_000), 0
    while n < len(y):
        n = min(len(y), n + int(rng.integers(1, 20_000)))
        idx = decimator.indices(y[:n])
        finite = y[:n][np.isfinite(y[:n])]
        assert len(idx) <= 4_002 and np.all(np.diff(idx) > 0)
        assert np.all(np.isfinite(y[idx]))
        assert y[idx].max() == finite.max() and y[idx].min() == finite.min()
    assert decimator.per > 1
    small = decimator.indices(y[:100])  # rolled back: every finite point again
    assert list(small) == list(range(100))
    assert list(Decimator(4_000).indices(np.array([1.0, np.nan, 2.0]))) == [0, 2]


def test_rewound_metrics_tell_the_plots_to_start_over():
    metrics = RunMetrics()
    losses = (2.0, 1.0, 0.5, 0.4)
    metrics.add(StepReport(4, 0, (0, 1, 2, 3), losses, (0.1,) * 4, 0.5, 1.0, 1.0, 1.0))
    metrics.rewind(2)
    assert list(metrics.steps.values) == [0, 1] and metrics.rewinds == 1
    assert metrics.last is None  # its report was of undone steps (the panel showed it: crash)
    second = (0.95 * 0.05 * 2.0 + 0.05 * 1.0) / (0.95 * 0.05 + 0.05)  # bias-corrected EMA
    assert list(metrics.smoothed.values) == pytest.approx([2.0, second])


def test_the_training_process_reads_an_image_folder_with_dataloader_workers(tmp_path):
    """The window's training process may start DataLoader workers (it was a daemon, and the
    first image-folder run from the window failed: 'daemonic processes are not allowed to
    have children')."""
    from PIL import Image

    for i in range(24):
        cls = ("a", "b")[i % 2]
        (tmp_path / "pics" / cls).mkdir(parents=True, exist_ok=True)
        grey = (40 + 180 * (i % 2),) * 3
        Image.new("RGB", (30, 30), grey).save(tmp_path / "pics" / cls / f"{i}.png")
    config = TrainConfig.from_dict(
        {
            "dataset": "image_folder",
            "data_dir": str(tmp_path / "pics"),
            "workers": 2,
            "epochs": 1,
            "batch_size": 8,
        }
    )
    from app.core.training.options import DATASETS

    assert DATASETS["image_folder"].channels == 3  # the folder loader reads RGB
    graph = chain(image(3, 28, 28), ("flatten", {}), ("linear", {"out_features": 2}))
    handle = ProcessRun(to_json(Project(graph, "folder")), config, runs_root=tmp_path / "runs")
    handle.start()
    assert not handle.process.daemon
    events = drain(handle)
    assert handle.join(30)
    assert type(events[-2]).__name__ == "RunFinished", events[-3:]


def test_a_training_process_whose_window_died_stops_its_run_and_exits(monkeypatch):
    from app.core.training import session
    from app.core.training.events import RunControl

    exits = []
    monkeypatch.setattr(session, "ORPHAN_GRACE_S", 0.0)
    monkeypatch.setattr(session.os, "_exit", exits.append)
    control = RunControl()
    session._watch_parent(-1, control, every_s=0.0)  # -1: never this process's parent
    assert control.stop_requested and exits == [1]
