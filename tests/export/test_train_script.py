"""The exported training script: lint-clean, and it trains on one device and under torchrun."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import presets
from app.core.export.model_code import ExportError
from app.core.export.train_script import export_training_script
from app.core.serialization import Project
from app.core.training.adapt import adapt_to_dataset
from app.core.training.options import DATASETS
from tests.export.test_model_code import ruff

SMALL = {
    "dataset": "shapes_gray",
    "train_size": 2048,
    "val_size": 256,
    "batch_size": 64,
    "epochs": 2,
    "nesterov": True,
}


def export(tmp_path: Path, preset: str = "lenet5", **training) -> Path:
    graph = presets.get(preset).build()
    export_training_script(
        Project(graph, presets.get(preset).title, training={**SMALL, **training}), tmp_path
    )
    return tmp_path


def losses(output: str) -> list[float]:
    return [float(v) for v in re.findall(r"train loss ([0-9.]+)", output)]


def run(folder: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, *cmd], cwd=folder, capture_output=True, text=True, timeout=600, env=env
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "schedule": "cosine",
            "warmup_epochs": 1,
            "init": "he_normal",
            "crop_padding": 2,
            "hflip": True,
            "cutout": 4,
            "mixup_alpha": 0.2,
            "color_jitter": 0.1,
            "optimizer": "adamw",
            "lr": 0.003,
            "grad_clip": 5.0,
            "label_smoothing": 0.1,
            "amp": "bf16",
        },
        {
            "schedule": "multistep",
            "milestones": [1],
            "optimizer": "rmsprop",
            "lr": 0.001,
            "l1": 1e-5,
            "init": "lecun",
        },
        {
            "schedule": "one_cycle",
            "optimizer": "adam",
            "lr": 0.003,
            "amsgrad": True,
            "channels_last": True,
        },
    ],
)
def test_script_is_lint_clean_and_learns(tmp_path, options):
    folder = export(tmp_path, **options)
    for check in (["check", "--isolated", "."], ["format", "--isolated", "--check", "."]):
        proc = subprocess.run([ruff(), *check], cwd=folder, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(folder, "train.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = losses(proc.stdout)
    assert len(values) == 2 and values[1] < values[0], proc.stdout
    assert (folder / "model.pt").exists()


def test_zero_init_residual_and_resnet(tmp_path):
    folder = export(
        tmp_path,
        "resnet18_cifar",
        dataset="shapes",
        train_size=128,
        val_size=32,
        batch_size=32,
        epochs=1,
        zero_init_residual=True,
        init="he_uniform",
    )
    text = (folder / "train.py").read_text()
    assert "from model import ResNet18CIFAR\n" in text
    assert "    zero_residual_branches(model)" in text
    # the block names its branch's last BatchNorm; the script needs no list of block classes
    assert 'branch_end = "bn2"' in (folder / "model.py").read_text()
    proc = run(folder, "train.py")
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_script_under_torchrun_with_two_processes(tmp_path):
    folder = export(tmp_path)
    proc = run(
        folder, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = losses(proc.stdout)
    assert len(values) == 2 and values[1] < values[0], proc.stdout  # rank 0 prints only


def test_torchvision_dataset_scripts_are_lint_clean(tmp_path):
    for dataset in ("mnist", "cifar10", "svhn", "image_folder"):
        folder = tmp_path / dataset
        graph = presets.get("lenet5").build()
        spec = DATASETS[dataset]
        side = spec.side or 28
        adapt_to_dataset(graph, (spec.channels, side, side), spec.classes)
        export_training_script(
            Project(
                graph,
                "LeNet-5",
                training={"dataset": dataset, "data_dir": "/data/pets", "mixup_alpha": 0.2},
            ),
            folder,
        )
        proc = subprocess.run(
            [ruff(), "check", "--isolated", "."], cwd=folder, capture_output=True, text=True
        )
        assert proc.returncode == 0, dataset + proc.stdout
        proc = subprocess.run(
            [ruff(), "format", "--isolated", "--check", "."],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, dataset + proc.stdout
        text = (folder / "train.py").read_text()
        assert ("torchvision.datasets" in text) and "NUM_CLASSES = 10" in text


def test_a_script_that_could_not_run_is_refused_with_the_reason(tmp_path):
    """LeNet (1×28×28) with CIFAR-10: the script would crash at its first batch."""
    project = Project(presets.get("lenet5").build(), "LeNet-5", training={"dataset": "cifar10"})
    with pytest.raises(ExportError) as info:
        export_training_script(project, tmp_path)
    message = str(info.value)
    assert "input is 1×28×28 but cifar10 images are 3×32×32" in message
    assert "adapt the Input and classifier to cifar10" in message
    assert not (tmp_path / "train.py").exists()
