"""The measurement scripts of issue 18 still run (tiny sizes; their numbers are not checked:
no timing assertion in a test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_transfer_experiment_runs_its_three_ways():
    out = run("bench/transfer.py", "--quick", "--seeds", "2")
    assert "re-initialised: linear_1 (4×128 here, 6×128 in the weights)" in out
    for name in ("scratch", "frozen", "fine-tune"):
        assert f"  {name}" in out


def test_the_frozen_step_bench_runs():
    out = run("bench/frozen_step.py", "--size", "64", "--batch", "4", "--steps", "1")
    assert "frozen / full" in out and "(5,130 parameters train)" in out
