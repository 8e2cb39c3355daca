"""``python main.py train``: flags from the config specs, progress lines, Ctrl+C and resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "--dataset",
    "shapes_gray",
    "--train-size",
    "512",
    "--val-size",
    "128",
    "--batch-size",
    "32",
]


def test_train_prints_epochs_and_writes_a_run(tmp_path, capsys):
    code = main(
        [
            "train",
            "presets:lenet5",
            *SMALL,
            "--epochs",
            "2",
            "--nesterov",
            "--schedule",
            "multistep",
            "--milestones",
            "1",
            "--runs",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "training on cpu: Shapes 28×28×1 (512 train / 128 val), 61,706 parameters" in out
    assert "epoch   1/2" in out and "epoch   2/2" in out
    assert "completed after 2 epoch(s)" in out
    (run,) = tmp_path.iterdir()
    assert (run / "checkpoints" / "last.pt").exists()
    config = (run / "config.json").read_text()
    assert '"milestones": [\n    1\n  ]' in config and '"nesterov": true' in config


def test_adapt_fits_a_cifar_preset_to_the_dataset(tmp_path, capsys):
    assert (
        main(["train", "presets:resnet18_cifar", *SMALL, "--epochs", "1", "--runs", str(tmp_path)])
        == 1
    )
    err = capsys.readouterr().err
    assert "the network's input is 3×32×32 but shapes_gray images are 1×32×32" in err
    assert "--dataset shapes (built-in, fits)" in err and "--adapt" in err
    assert (
        main(
            [
                "train",
                "presets:nin_cifar",
                *SMALL,
                "--epochs",
                "1",
                "--adapt",
                "--runs",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert "adapted input_1: input set to 1×32×32" in capsys.readouterr().out


def test_invalid_settings_are_refused(capsys):
    assert main(["train", "presets:lenet5", "--lr", "-1"]) == 2
    assert "lr: -1.0 is below the minimum" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "presets:lenet5", "--optimizer", "lion"])


def test_ctrl_c_stops_cleanly_and_resume_finishes(tmp_path):
    cmd = [
        sys.executable,
        "main.py",
        "train",
        "presets:lenet5",
        "--dataset",
        "shapes_gray",
        "--train-size",
        "20000",
        "--val-size",
        "128",
        "--batch-size",
        "32",
        "--epochs",
        "3",
        "--runs",
        str(tmp_path),
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(tmp_path.glob("*/metrics.jsonl")):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped after" in out and "resume with:" in out
    assert "Traceback" not in err
    (run,) = tmp_path.iterdir()
    resumed = subprocess.run(
        [*cmd[:4], "--resume", str(run), *cmd[4:], "--epochs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "completed after 1 epoch(s)" in resumed.stdout
