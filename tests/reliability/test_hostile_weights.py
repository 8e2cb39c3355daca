"""A malicious ``.pt`` file (its pickle calls code when loaded) is held against every path
that opens weights, checkpoints or run folders: none may run it, each says why it refused."""

from __future__ import annotations

import builtins
import io
import re
import shutil
from pathlib import Path

import pytest
import torch

import presets
from app.cli import main
from app.core.export import artifacts
from app.core.export.model_code import ExportError
from app.core.serialization import Project
from app.core.torch_files import WeightsFileError, load_tensors
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import RunFailed, RunFinished
from app.core.training.results import evaluate_run
from app.core.training.rundir import RunDir
from tests.helpers import SMALL_TRAINING as SMALL

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this calls ``exec`` — what a hostile file would do with ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


def write_evil(path: Path, marker: Path) -> Path:
    torch.save({"model": Payload(marker), "step": 1}, path)
    return path


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    return write_evil(tmp_path / "evil.pt", marker), marker


def test_the_payload_is_real(evil):
    """Control: an unrestricted load does run it (so the tests below could fail)."""
    path, marker = evil
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_load_tensors_refuses_and_says_why(evil):
    path, marker = evil
    with pytest.raises(WeightsFileError) as info:
        load_tensors(path)
    assert info.value.unsafe and "could run code" in str(info.value)
    with pytest.raises(WeightsFileError):
        load_tensors(io.BytesIO(path.read_bytes()))
    assert not marker.exists()


def test_artifacts_load_weights(evil):
    path, marker = evil
    with pytest.raises(ExportError, match="refused"):
        artifacts.load_weights(path)
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["weights", "py", "onnx"])
def test_cli_export_with_checkpoint(evil, tmp_path, capsys, fmt):
    path, marker = evil
    code = main(
        ["export", "presets:lenet5", "--format", fmt, "--checkpoint", str(path), "-o",
         str(tmp_path / "out.bin")]
    )  # fmt: skip
    assert code == 1 and not marker.exists()
    err = capsys.readouterr().err
    assert "refused" in err and "Traceback" not in err


def test_cli_evaluate_checkpoint_and_ensemble(evil, tmp_path, capsys):
    path, marker = evil
    flags = ["--dataset", "shapes_gray", "--train-size", "128", "--val-size", "64"]
    for checkpoints in (["--checkpoint", str(path)], ["--checkpoint", str(path)] * 2):
        code = main(["evaluate", "presets:lenet5", *checkpoints, *flags])
        assert code == 1 and not marker.exists()
        assert "refused" in capsys.readouterr().err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    config = TrainConfig.from_dict({**SMALL, "epochs": 1, "train_size": 128, "val_size": 64})
    trainer = Trainer(presets.get("lenet5").build(), config, name="t", runs_root=root)
    events = list(trainer.run())
    assert isinstance(events[-1], RunFinished)
    return trainer


def copy_of(finished_run, tmp_path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(finished_run.run_dir.path, folder)
    return folder


def test_resume_from_a_tampered_run_folder(finished_run, tmp_path):
    folder = copy_of(finished_run, tmp_path)
    marker = tmp_path / "PWNED"
    write_evil(folder / "checkpoints" / "last.pt", marker)
    config = TrainConfig.from_dict({**SMALL, "epochs": 2, "train_size": 128, "val_size": 64})
    trainer = Trainer(presets.get("lenet5").build(), config, run_dir=folder)
    events = list(trainer.run())
    assert isinstance(events[-1], RunFailed) and "refused" in events[-1].message
    assert not marker.exists()


def test_results_and_bundle_of_a_tampered_run_folder(finished_run, tmp_path, monkeypatch):
    folder = copy_of(finished_run, tmp_path)
    marker = tmp_path / "PWNED"
    write_evil(folder / "checkpoints" / "best.pt", marker)
    monkeypatch.setattr(finished_run, "run_dir", RunDir(folder))
    with pytest.raises(WeightsFileError):
        evaluate_run(finished_run)
    project = Project(presets.get("lenet5").build(), "LeNet-5")
    with pytest.raises(ExportError, match="refused"):
        artifacts.export_bundle(project, tmp_path / "b.zip", folder)
    assert not marker.exists()


def test_own_checkpoints_load_restricted(finished_run):
    for name in ("last", "best"):
        path = finished_run.run_dir.checkpoint_path(name)
        if name == "best" and not path.exists():
            continue
        state = load_tensors(path)
        assert set(state["model"]) == set(finished_run.model.state_dict())


def test_no_unrestricted_torch_load_in_the_code():
    """Every load goes through app.core.torch_files.load_tensors."""
    for path in [*ROOT.glob("app/**/*.py"), *ROOT.glob("presets/**/*.py"), ROOT / "main.py"]:
        text = path.read_text(encoding="utf-8")
        assert "weights_only=False" not in text, path
        if path.name != "torch_files.py":  # a generated script restricts its own load
            for line in text.replace("torch.load('", "").splitlines():
                if re.search(r"torch\.load\(", line):
                    assert "weights_only=True" in line, (path, line)
