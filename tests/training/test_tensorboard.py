"""The tensorboard setting: a run's metrics also as TensorBoard event files."""

from __future__ import annotations

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from app.cli import main
from app.core.training.config import ConfigError, TrainConfig
from app.core.training.rundir import RunDir


def test_train_with_tensorboard_writes_the_runs_scalars(tmp_path, capsys):
    code = main([
        "train", "presets:lenet5", "--runs", str(tmp_path), "--tensorboard",
        "--train-size", "128", "--val-size", "32", "--batch-size", "32", "--epochs", "2",
        "--report-every", "2",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    for tag in ("train/loss", "train/lr", "epoch/val_acc", "epoch/val_loss", "epoch/train_loss"):
        assert tag in tags
    val = events.Scalars("epoch/val_acc")
    assert [s.step for s in val] == [1, 2]
    assert [s.value for s in val] == pytest.approx(RunDir(run, create=False).best_accuracies())
    assert len(events.Scalars("train/loss")) == 2 * 128 // 32  # every step's loss


def test_without_the_package_the_setting_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else real(name, *a),
    )
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        TrainConfig.from_dict({"tensorboard": True})
    assert TrainConfig.from_dict({"tensorboard": False}).tensorboard is False
