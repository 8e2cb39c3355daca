"""The exported train.py follows the engine: the same learning rate at every step, the same
initial weights for a seed, and the same first epoch (loss and weights), for every
registered schedule, initialiser and optimizer."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import presets
from app.core.export.train_script import export_training_script
from app.core.serialization import Project
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import EpochReport
from app.core.training.options import INITS, OPTIMIZERS, SCHEDULES
from app.core.training.schedules import preview

SMALL = {
    "dataset": "shapes_gray",
    "train_size": 256,
    "val_size": 64,
    "batch_size": 32,
    "epochs": 1,
    "device": "cpu",
}
#: settings that give each schedule several changes within a short run
SHAPED = {
    "epochs": 6,
    "step_size": 2,
    "gamma": 0.5,
    "milestones": [2, 4],
    "eta_min": 0.001,
    "restart_period": 1,
    "restart_mult": 2,
    "pct_start": 0.25,
}


def load_script(folder: Path, tag: str) -> ModuleType:
    """Import ``folder/train.py`` (and its ``model.py``) as a fresh module."""
    sys.path.insert(0, str(folder))
    sys.modules.pop("model", None)
    try:
        spec = importlib.util.spec_from_file_location(f"exported_train_{tag}", folder / "train.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)


def exported(tmp_path: Path, tag: str, preset: str = "lenet5", **training) -> ModuleType:
    folder = tmp_path / tag
    graph = presets.get(preset).build()
    project = Project(graph, presets.get(preset).title, training={**SMALL, **training})
    export_training_script(project, folder)
    return load_script(folder, tag)


def engine(tmp_path: Path, preset: str = "lenet5", **training) -> Trainer:
    config = TrainConfig.from_dict({**SMALL, **training})
    return Trainer(presets.get(preset).build(), config, runs_root=tmp_path / "runs")


@pytest.mark.parametrize("name", SCHEDULES.names())
@pytest.mark.parametrize("warmup", [0, 1])
def test_same_learning_rate_at_every_step(tmp_path, name, warmup):
    options = {**SHAPED, "schedule": name, "warmup_epochs": warmup}
    if name == "cosine" and warmup:
        options["snapshots"] = 2  # snapshot ensembles: cosine cycles
    script = exported(tmp_path, f"lr_{name}_{warmup}", **options)
    spe = 7
    config = TrainConfig.from_dict({**SMALL, **options})
    expected = preview(config, spe)
    assert [script.learning_rate(s, spe) for s in range(len(expected))] == expected
    assert len(set(expected)) > (1 if name != "constant" else 0)


@pytest.mark.parametrize("name", INITS.names())
def test_same_initial_weights_for_a_seed(tmp_path, name):
    options = {"init": name, "seed": 7, "zero_init_residual": True, "init_mode": "fan_out"}
    script = exported(tmp_path, f"init_{name}", "resnet18_cifar", dataset="shapes", **options)
    trainer = engine(tmp_path, "resnet18_cifar", dataset="shapes", train_size=32, **options)
    trainer.prepare()
    ours = trainer.model.state_dict()  # type: ignore[union-attr]
    theirs = script.build_model(torch.device("cpu")).state_dict()
    assert list(theirs) == list(ours)
    for key, value in ours.items():
        assert torch.equal(theirs[key], value), key
    zeroed = [k for k, v in theirs.items() if k.endswith("bn2.weight") and not v.any()]
    assert len(zeroed) == 8  # every basic block's last BN scale (zero_init_residual)


def run_script_epoch(script: ModuleType, folder: Path, monkeypatch) -> tuple[float, dict]:
    """One epoch of the script's ``main`` on the CPU: its printed train loss, saved weights."""
    monkeypatch.chdir(folder)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        script.main()
    loss = float(re.search(r"train loss ([0-9.]+)", out.getvalue()).group(1))  # type: ignore[union-attr]
    return loss, torch.load(folder / "model.pt", weights_only=True)


def run_engine_epoch(trainer: Trainer) -> EpochReport:
    reports = [e for e in trainer.run() if isinstance(e, EpochReport)]
    assert len(reports) == 1
    return reports[0]


FIRST_EPOCH = [
    *({"schedule": name, "warmup_epochs": 0} for name in SCHEDULES.names()),
    *({"init": name} for name in INITS.names()),
    *({"optimizer": name, "lr": 0.01} for name in OPTIMIZERS.names()),
    {  # every augmentation and penalty the script reproduces
        "crop_padding": 2,
        "hflip": True,
        "vflip": True,
        "color_jitter": 0.2,
        "cutout": 4,
        "mixup_alpha": 0.2,
        "l1": 1e-4,
        "grad_clip": 1.0,
        "label_smoothing": 0.1,
        "warmup_epochs": 1,
    },
]


@pytest.mark.parametrize("options", FIRST_EPOCH, ids=lambda o: "-".join(map(str, o.values())))
def test_same_first_epoch(tmp_path, monkeypatch, options):
    options = {**options, "epochs": 1, "seed": 3}
    tag = re.sub(r"\W", "_", "_".join(map(str, options.values())))
    script = exported(tmp_path, tag, **options)
    script_loss, script_weights = run_script_epoch(script, tmp_path / tag, monkeypatch)
    trainer = engine(tmp_path, **options)
    report = run_engine_epoch(trainer)
    assert script_loss == pytest.approx(report.train_loss, abs=6e-5)
    engine_weights = trainer.model.state_dict()  # type: ignore[union-attr]
    assert list(script_weights) == list(engine_weights)
    for key, value in engine_weights.items():
        torch.testing.assert_close(script_weights[key], value, msg=key)


def same_first_epoch(script, folder, graph, options, tmp_path, monkeypatch) -> dict:
    """Run the script's first epoch and the engine's on ``graph``: the same training loss
    and the same weights after it (returned, the script's)."""
    script_loss, script_weights = run_script_epoch(script, folder, monkeypatch)
    trainer = Trainer(graph, TrainConfig.from_dict(options), runs_root=tmp_path / "runs")
    report = run_engine_epoch(trainer)
    assert script_loss == pytest.approx(report.train_loss, abs=6e-5)
    for key, value in trainer.model.state_dict().items():  # type: ignore[union-attr]
        torch.testing.assert_close(script_weights[key], value, msg=key)
    return script_weights


def test_frozen_layers_and_multipliers_give_the_engine_s_first_epoch(tmp_path, monkeypatch):
    """A frozen conv and BatchNorm (weights and statistics kept) and a conv at ×0.1: the
    script trains what the engine trains, with the same rates."""
    from app.core.graph import Learning
    from tests.helpers import chain, image

    def graph():
        g = chain(
            image(1, 28, 28),
            ("conv2d", {"out_channels": 6}),
            ("batchnorm2d", {}),
            ("relu", {}),
            ("conv2d", {"out_channels": 6, "stride": 2}),
            ("relu", {}),
            ("flatten", {}),
            ("linear", {"out_features": 10}),
        )
        g.set_learning("conv2d_1", Learning(trainable=False))
        g.set_learning("batchnorm2d_1", Learning(trainable=False))
        g.set_learning("conv2d_2", Learning(lr_mult=0.1))
        return g

    options = {**SMALL, "seed": 3, "schedule": "cosine", "optimizer": "adam", "lr": 0.01}
    folder = tmp_path / "tuned"
    export_training_script(Project(graph(), "Tuned", training=options), folder)
    text = (folder / "train.py").read_text()
    assert 'FROZEN = ("conv2d_1", "batchnorm2d_1")' in text and "LR_MULT = {" in text
    script = load_script(folder, "tuned")
    start = script.build_model(torch.device("cpu")).state_dict()
    weights = same_first_epoch(script, folder, graph(), options, tmp_path, monkeypatch)
    for key in [k for k in weights if k.startswith(("conv2d_1.", "batchnorm2d_1."))]:
        assert torch.equal(weights[key], start[key]), key


def test_pretrained_weights_give_the_engine_s_first_epoch(tmp_path, monkeypatch):
    """The script loads torchvision's weights as the engine does (by name, the replaced
    classifier kept as initialised) and normalises with the weights' mean and std."""
    from torchvision import models

    from app.core.training.adapt import adapt_to_dataset
    from app.core.training.pretrained import cached_file
    from app.core.weight_sets import weight_set

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ws = weight_set("ResNet18_Weights.IMAGENET1K_V1")
    cached_file(ws).parent.mkdir(parents=True)
    torch.manual_seed(5)
    torch.save(models.resnet18().state_dict(), cached_file(ws))

    def graph():
        g = presets.get("resnet18").build()
        adapt_to_dataset(g, (3, 32, 32), 10)
        return g

    options = {**SMALL, "dataset": "shapes", "train_size": 64, "seed": 1, "pretrained": ws.name}
    folder = tmp_path / "pretrained"
    export_training_script(Project(graph(), "Tuned", training=options), folder)
    import subprocess

    from tests.export.test_model_code import ruff

    for check in (["check", "--isolated", "."], ["format", "--isolated", "--check", "."]):
        proc = subprocess.run([ruff(), *check], cwd=folder, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    script = load_script(folder, "pretrained")
    same_first_epoch(script, folder, graph(), options, tmp_path, monkeypatch)
