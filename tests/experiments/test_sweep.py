"""Sweeps run ordinary runs whose configs and graphs carry each point's values."""

from __future__ import annotations

import json

import pytest

import presets
from app.core.experiments.compare import compare
from app.core.experiments.runs import read_run
from app.core.experiments.space import SweepError
from app.core.experiments.stats import mean_interval
from app.core.experiments.sweep import (
    SweepFinished,
    SweepSpec,
    SweepStarted,
    TrialFinished,
    TrialStarted,
    design,
    run_sweep,
    sweep_table,
)
from app.core.serialization import load
from app.core.training.config import TrainConfig
from app.core.training.events import RunControl, RunFinished, RunStarted

#: two steps of 32 images: a run takes about a second
TINY = {
    "dataset": "shapes_gray",
    "train_size": 64,
    "val_size": 32,
    "batch_size": 32,
    "epochs": 1,
    "report_every": 1,
}


@pytest.fixture
def lenet():
    return presets.get("lenet5").project()


def _run(lenet, spec, root, control=None):
    return list(
        run_sweep(lenet, TrainConfig.from_dict(TINY), spec, runs_root=root, control=control)
    )


def test_a_grid_of_two_values_of_two_parameters_makes_four_runs(lenet, tmp_path):
    spec = SweepSpec(("lr=0.01,0.1", "conv2d_1.out_channels=4,8"), "grid", name="grid", seeds=1)
    events = _run(lenet, spec, tmp_path)
    started = events[0]
    assert isinstance(started, SweepStarted)
    assert (started.total, started.sampler, started.done) == (4, "grid", 0)
    finished = [e for e in events if isinstance(e, TrialFinished)]
    assert [f.state for f in finished] == ["complete"] * 4
    points = [f.point for f in finished]
    assert points == [
        {"lr": 0.01, "conv2d_1.out_channels": 4},
        {"lr": 0.01, "conv2d_1.out_channels": 8},
        {"lr": 0.1, "conv2d_1.out_channels": 4},
        {"lr": 0.1, "conv2d_1.out_channels": 8},
    ]
    run_dirs = [f.run_dirs[0] for f in finished]
    assert len(set(run_dirs)) == 4
    for point, folder in zip(points, run_dirs, strict=True):
        config = json.loads((tmp_path / folder / "config.json").read_text())
        assert config["lr"] == point["lr"]
        graph = load(tmp_path / folder / "project.json").graph
        assert graph.node("conv2d_1").params["out_channels"] == point["conv2d_1.out_channels"]
        tags = json.loads((tmp_path / folder / "experiment.json").read_text())
        assert (tags["sweep"], tags["point"], tags["seed"]) == ("grid", point, 0)
        record = read_run(folder)
        assert record.outcome == "completed" and len(record.epochs) == 1
        # every step's training loss, as the run's log has it (64 images / 32: two steps)
        logged = [
            json.loads(line)
            for line in (tmp_path / folder / "metrics.jsonl").read_text().splitlines()
        ]
        by_hand = [
            (s, loss)
            for e in logged
            if e["event"] == "StepReport"
            for s, loss in zip(e["steps"], e["losses"], strict=True)
        ]
        assert record.steps == tuple(by_hand) and [s for s, _ in record.steps] == [0, 1]
    end = events[-1]
    assert isinstance(end, SweepFinished) and end.completed == 4 and not end.stopped
    values = {f.trial: f.value for f in finished}
    assert end.best_value == max(values.values())
    assert end.best_point == finished[[f.value for f in finished].index(end.best_value)].point
    # the study keeps every trial with its runs
    table = sweep_table("grid", end.storage)
    assert [r["state"] for r in table] == ["complete"] * 4
    assert [r["runs"] for r in table] == [[d] for d in run_dirs]


def test_seeds_repeat_each_point_and_the_interval_is_the_seeds(lenet, tmp_path):
    spec = SweepSpec(("optimizer=sgd,adam",), "grid", seeds=3, name="seeds")
    events = _run(lenet, spec, tmp_path)
    trials = [e for e in events if isinstance(e, TrialStarted)]
    assert [(t.point["optimizer"], t.seed, t.repeat) for t in trials] == [
        ("sgd", 0, 0), ("sgd", 1, 1), ("sgd", 2, 2), ("adam", 0, 0), ("adam", 1, 1), ("adam", 2, 2),
    ]  # fmt: skip
    finished = [e for e in events if isinstance(e, TrialFinished)]
    for f in finished:
        runs = [read_run(d) for d in f.run_dirs]
        assert [r.config["seed"] for r in runs] == [0, 1, 2]
        by_hand = [max(e.val_acc for e in r.epochs) for r in runs]
        assert f.values == pytest.approx(by_hand)
        iv = mean_interval(by_hand)
        assert (f.value, f.half) == pytest.approx((iv.mean, iv.half))
    # the comparison groups each point's three seeds
    records = [read_run(d) for f in finished for d in f.run_dirs]
    comparison = compare(records)
    assert [g.label for g in comparison.groups] == ["optimizer=sgd", "optimizer=adam"]
    assert [len(g.runs) for g in comparison.groups] == [3, 3]
    assert comparison.groups[1].interval("best_val_acc").mean == pytest.approx(finished[1].value)
    assert comparison.differing == {"optimizer", "seed"}


def test_random_and_model_based_sweeps(lenet, tmp_path):
    spec = SweepSpec(("lr=log:1e-3..1e-1",), "random", trials=2, name="rand", sampler_seed=7)
    events = _run(lenet, spec, tmp_path)
    finished = [e for e in events if isinstance(e, TrialFinished)]
    assert [f.point for f in finished] == design(spec, spec.dimensions(lenet))
    assert all(1e-3 <= f.point["lr"] <= 1e-1 for f in finished)
    tpe = SweepSpec(("lr=log:1e-3..1e-1", "batch_size=16,32"), "tpe", trials=2, name="tpe")
    events = _run(lenet, tpe, tmp_path)
    assert [e.state for e in events if isinstance(e, TrialFinished)] == ["complete"] * 2


def test_a_point_that_breaks_the_graph_fails_alone(lenet, tmp_path):
    # a 7x7 kernel with no padding on LeNet's second conv leaves nothing for the third stage
    spec = SweepSpec(("conv2d_2.kernel_h=5,30",), "grid", name="bad")
    events = _run(lenet, spec, tmp_path)
    finished = [e for e in events if isinstance(e, TrialFinished)]
    assert [f.state for f in finished] == ["complete", "failed"]
    assert "seed 0" in finished[1].message
    assert events[-1].completed == 1


def test_stop_ends_the_sweep_after_the_current_run(lenet, tmp_path):
    control = RunControl()
    spec = SweepSpec(("lr=0.01,0.02,0.03",), "grid", name="stop")
    events = []
    for event in run_sweep(
        lenet, TrainConfig.from_dict(TINY), spec, runs_root=tmp_path, control=control
    ):
        events.append(event)
        if isinstance(event, RunStarted):
            control.stop()
    assert [e.state for e in events if isinstance(e, TrialFinished)] == ["stopped"]
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    assert events[-1].stopped
    # going on runs every point, the stopped one included, and counts it once
    again = _run(lenet, spec, tmp_path)
    assert isinstance(again[0], SweepStarted) and again[0].done == 0
    finished = [e for e in again if isinstance(e, TrialFinished)]
    assert sorted(e.point["lr"] for e in finished if e.state == "complete") == [0.01, 0.02, 0.03]
    assert again[-1].completed == 3 and not again[-1].stopped
    table = sweep_table("stop", again[0].storage)
    assert sorted((r["state"], r["point"]["lr"]) for r in table) == [
        ("complete", 0.01), ("complete", 0.02), ("complete", 0.03)
    ]  # fmt: skip


def test_a_tpe_trial_stopped_mid_run_does_not_count_against_the_trials(lenet, tmp_path):
    control = RunControl()
    spec = SweepSpec(("lr=log:0.01..0.1",), "tpe", trials=2, name="tpe-stop")
    for event in run_sweep(
        lenet, TrainConfig.from_dict(TINY), spec, runs_root=tmp_path, control=control
    ):
        if isinstance(event, RunStarted):
            control.stop()
    again = _run(lenet, spec, tmp_path)
    finished = [e for e in again if isinstance(e, TrialFinished)]
    assert [e.state for e in finished] == ["complete", "complete"]
    assert again[-1].completed == 2


def test_a_second_go_of_a_sweep_runs_only_what_is_left_and_refuses_another_definition(
    lenet, tmp_path
):
    spec = SweepSpec(("lr=0.01,0.02",), "grid", trials=1, name="again")
    _run(lenet, spec, tmp_path)
    with pytest.raises(SweepError, match="another definition"):
        _run(lenet, SweepSpec(("lr=0.5,0.6",), "grid", name="again"), tmp_path)


def test_bad_sweeps_fail_before_any_run(lenet, tmp_path):
    with pytest.raises(SweepError, match="needs a number of trials"):
        SweepSpec(("lr=0.1,0.2",), "random")
    with pytest.raises(SweepError, match="sampler"):
        SweepSpec(("lr=0.1,0.2",), "bayes")
    with pytest.raises(SweepError, match="not both"):
        _run(lenet, SweepSpec(("seed=1,2",), seeds=2), tmp_path)
    with pytest.raises(SweepError, match="a number of points"):
        _run(lenet, SweepSpec(("lr=0.1..0.2",), "grid"), tmp_path)
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # no run folder was made


def test_a_worker_that_loses_the_race_to_create_the_database_tries_again(monkeypatch, tmp_path):
    """Two workers starting on a new SQLite file: the second failed with 'UNIQUE constraint
    failed: alembic_version.version_num' (seen in a full test run)."""
    import optuna

    from app.core.experiments.sweep import open_storage

    real, calls = optuna.storages.RDBStorage, []

    def racing(url, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version")
        return real(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    assert open_storage(f"sqlite:///{tmp_path / 's.db'}") is not None and len(calls) == 2

    def broken(url, **kwargs):
        raise RuntimeError("unable to open database file")

    monkeypatch.setattr(optuna.storages, "RDBStorage", broken)
    with pytest.raises(SweepError, match="cannot open the sweep storage"):
        open_storage("sqlite:////nonexistent/dir/s.db")
