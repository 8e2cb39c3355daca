"""The README's sample outputs are what the commands above them print today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sample_after(command: str) -> str:
    """The first plain code block after the block that holds ``command``."""
    start = README.index(command)
    opening = README.index("```\n", README.index("```\n", start) + 4)  # after the commands
    return README[opening + 4 : README.index("```", opening + 4)]


def run(*args: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_check_sample_is_what_check_prints():
    sample = sample_after("main.py check presets:resnet18_cifar")
    printed = run("check", "presets:resnet18_cifar")
    position = 0
    for part in sample.split("…\n"):  # the sample leaves rows out; the rest is verbatim
        found = printed.find(part, position)
        assert found >= 0, f"not printed:\n{part}\n--- printed:\n{printed}"
        position = found + len(part)


def test_the_train_sample_is_what_train_prints(tmp_path):
    command = "main.py train presets:lenet5 --dataset shapes_gray --epochs 2 --nesterov"
    sample = sample_after(command).splitlines()
    args = command.split()[1:]
    printed = run(*args, "--runs", str(tmp_path)).splitlines()
    assert len(printed) == len(sample), printed
    timing = re.compile(r"  [0-9.]+ s  [0-9,]+ img/s")
    for ours, theirs in zip(printed, sample, strict=True):
        if theirs.startswith("run directory: "):
            assert ours.startswith(f"run directory: {tmp_path}")
            continue
        # seconds and images/s vary; the losses and accuracies are seeded (another processor
        # may round a CPU reduction differently, hence the tolerance)
        ours, theirs = timing.sub("", ours), timing.sub("", theirs)
        assert _numbers(ours) == pytest.approx(_numbers(theirs), abs=2e-3), (ours, theirs)
        assert re.sub(r"[0-9.]+", "#", ours) == re.sub(r"[0-9.]+", "#", theirs)


def _numbers(line: str) -> list[float]:
    return [float(v) for v in re.findall(r"\d+\.\d+", line)]


def test_the_import_sample_is_what_import_prints(tmp_path):
    sample = sample_after("main.py import torchvision:resnet18 -o resnet18.json")
    assert run("import", "torchvision:resnet18", "-o", "resnet18.json", cwd=tmp_path) == sample
