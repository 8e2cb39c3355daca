"""The window's experiment queue, kept between sessions (app/core/experiments/queue.py)."""

from __future__ import annotations

import json

import presets
from app.core.experiments.queue import QueueItem, load_queue, queue_path, save_queue
from app.core.experiments.sweep import SweepSpec, TrialFinished
from app.core.serialization import to_json
from app.core.training.config import TrainConfig


def item(state: str = "queued", title: str = "lr") -> QueueItem:
    project = presets.get("lenet5").project()
    spec = SweepSpec(("lr=0.01,0.05",), "grid", seeds=2, name=f"LeNet-5-{title}")
    return QueueItem(title, to_json(project), TrainConfig.from_dict({"epochs": 2}), spec, state)


def test_a_queue_comes_back_as_it_was_saved(tmp_path):
    first, second = item("done"), item("queued", "batch_size")
    first.total = 2
    first.trials[0] = TrialFinished(
        0, {"lr": 0.01}, "complete", 0.9, 0.05, (0.85, 0.95), ("/runs/a", "/runs/b")
    )
    path = queue_path(tmp_path)
    save_queue([first, second], path)
    back, problems = load_queue(path)
    assert problems == []
    assert [b.title for b in back] == ["lr", "batch_size"]
    assert back[0].trials == first.trials and back[0].runs == ["/runs/a", "/runs/b"]
    assert back[0].config == first.config and back[0].spec == first.spec
    assert json.loads(back[0].project_json) == json.loads(first.project_json)
    assert (back[0].state, back[0].total) == ("done", 2)


def test_a_running_experiment_comes_back_stopped_and_an_empty_queue_leaves_no_file(tmp_path):
    path = queue_path(tmp_path)
    save_queue([item("running")], path)
    (back,), _ = load_queue(path)
    assert back.state == "stopped" and "closed while it ran" in back.message
    save_queue([], path)
    assert not path.exists()
    assert load_queue(path) == ([], [])


def test_an_unreadable_queue_is_set_aside_and_said(tmp_path):
    path = queue_path(tmp_path)
    path.write_text("{ not json", encoding="utf-8")
    items, (problem,) = load_queue(path)
    assert (
        items == [] and "could not be read" in problem and "experiments_queue.json.bad" in problem
    )
    assert not path.exists() and path.with_name(path.name + ".bad").read_text() == "{ not json"
    path.write_text(json.dumps({"format": 99, "items": []}), encoding="utf-8")
    items, (problem,) = load_queue(path)
    assert "newer than this NetBuilder's" in problem


def test_a_damaged_entry_is_left_out_by_name_and_the_file_kept(tmp_path):
    path = queue_path(tmp_path)
    save_queue([item("queued", "good"), item("queued", "broken")], path)
    data = json.loads(path.read_text())
    data["items"][1]["config"]["lr"] = -1  # refused by the settings' own rules
    path.write_text(json.dumps(data))
    items, problems = load_queue(path)
    assert [i.title for i in items] == ["good"]
    assert "queued experiment 2 (broken) left out" in problems[0] and "lr" in problems[0]
    assert path.with_name(path.name + ".bad").exists()  # the next save will not lose it
