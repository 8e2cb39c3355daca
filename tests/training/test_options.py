"""The options registries: each optimizer, schedule, initialiser and dataset is declared once,
and an added one appears in the settings, the CLI, the engine and the training script."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import presets
from app.cli import build_parser, main
from app.core.serialization import save
from app.core.shapes import check
from app.core.training.config import ConfigError, TrainConfig, option_registry, settings
from app.core.training.fit import adapt_target, dataset_problem
from app.core.training.optim import build_optimizer
from app.core.training.options import (
    DATASETS,
    INITS,
    OPTIMIZERS,
    SCHEDULES,
    OptimizerSpec,
    built_in_dataset,
)
from tests.helpers import extra_optimizer


def test_a_name_is_registered_once_and_must_be_an_identifier():
    with pytest.raises(ValueError, match="already registered"):
        OPTIMIZERS.register(OptimizerSpec("sgd", "again", "torch.optim.SGD"))
    with pytest.raises(ValueError, match="not an identifier"):
        OPTIMIZERS.register(OptimizerSpec("my sgd", "spaces", "torch.optim.SGD"))
    with pytest.raises(KeyError, match="unknown optimizer 'lion' \\(known: sgd, adam"):
        OPTIMIZERS["lion"]


def test_the_option_settings_choose_from_their_registries():
    specs = {p.name: p for p in settings()}
    for name, registry in [
        ("optimizer", OPTIMIZERS),
        ("schedule", SCHEDULES),
        ("init", INITS),
        ("dataset", DATASETS),
    ]:
        assert option_registry(name) is registry
        assert specs[name].choices == registry.names()
        assert specs[name].default in registry
    assert option_registry("lr") is None


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_builds_its_torch_class_with_its_arguments(name):
    spec = OPTIMIZERS[name]
    config = TrainConfig.from_dict({"optimizer": name, "lr": 0.02, "weight_decay": 0.001})
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(model, config)
    assert f"torch.optim.{type(opt).__name__}" == spec.cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.02 and group["weight_decay"] == 0.001
    for key, value in spec.arguments(config).items():
        assert group[key] == value, key


def test_datasets_say_their_images_and_classes():
    assert (DATASETS["cifar100"].channels, DATASETS["cifar100"].side) == (3, 32)
    assert DATASETS["cifar100"].classes == 100 and DATASETS["svhn"].labels == "labels"
    assert built_in_dataset(1).name == "shapes_gray" and built_in_dataset(3).name == "shapes"
    assert built_in_dataset(4) is None
    report = check(presets.get("lenet5").build())  # 1×28×28, 10 classes
    assert adapt_target("cifar10", report) == ((3, 32, 32), 10)
    assert adapt_target("shapes", report) == ((3, 28, 28), 10)  # any size: the network's
    assert adapt_target("image_folder", report) == ((3, 28, 28), None)
    assert dataset_problem("mnist", report) == ""
    assert "cifar10 images are 3×32×32" in dataset_problem("cifar10", report)


def test_an_added_optimizer_reaches_the_settings_cli_engine_and_script(tmp_path, capsys):
    with extra_optimizer() as name:
        config = TrainConfig.from_dict({"optimizer": name})
        assert type(build_optimizer(torch.nn.Linear(2, 2), config)).__name__ == "ASGD"
        args = build_parser().parse_args(["train", "presets:lenet5", "--optimizer", name])
        assert args.optimizer == name
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", "--help"])
        assert f"{name}: averaged SGD" in capsys.readouterr().out
        project = presets.get("lenet5").project()
        project.training = {
            **project.training,
            "optimizer": name,
            "train_size": 64,
            "val_size": 32,
            "batch_size": 32,
            "epochs": 1,
        }
        save(project, tmp_path / "p.json")
        out = tmp_path / "export"
        assert main(["export", str(tmp_path / "p.json"), "--format", "train", "-o", str(out)]) == 0
        text = (out / "train.py").read_text()
        assert "torch.optim.ASGD(" in text and "t0=10.0" in text
        proc = subprocess.run(
            [sys.executable, "train.py"], cwd=out, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "epoch 1/1" in proc.stdout
    with pytest.raises(ConfigError, match="optimizer: expected one of sgd, adam"):
        TrainConfig.from_dict({"optimizer": name})  # gone with its registration
