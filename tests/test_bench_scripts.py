"""The measurement scripts of issues 18 to 22 still run (tiny sizes, in this process; their
numbers are not checked: no timing assertion in a test)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(monkeypatch, capsys, script: str, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(ROOT / script), run_name="__main__")
    return capsys.readouterr().out


def test_the_transfer_experiment_runs_its_three_ways(monkeypatch, capsys):
    out = run(monkeypatch, capsys, "bench/transfer.py", "--quick", "--seeds", "2")
    assert "re-initialised: linear_1 (4×128 here, 6×128 in the weights)" in out
    for name in ("scratch", "frozen", "fine-tune"):
        assert f"  {name}" in out


def test_the_frozen_step_bench_runs(monkeypatch, capsys):
    args = ("--size", "64", "--batch", "4", "--steps", "1")
    out = run(monkeypatch, capsys, "bench/frozen_step.py", *args)
    assert "frozen / full" in out and "(5,130 parameters train)" in out


def test_the_gradcam_bench_runs(monkeypatch, capsys):
    out = run(monkeypatch, capsys, "bench/gradcam.py", "--quick")
    assert "Grad-CAM at conv2d_2: peak inside the object's box for " in out


def test_the_course_experiment_bench_runs(monkeypatch, capsys):
    out = run(monkeypatch, capsys, "bench/course_experiment.py", "--quick")
    assert "variant=no_bn" in out and "variant=bn" in out and "vs variant=no_bn:" in out


def test_the_step_time_bench_runs(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # its calibration is cached there
    monkeypatch.setattr("app.core.training.calibrate.BUDGET_S", 0.0)
    monkeypatch.setattr("app.core.training.calibrate.WARM_S", 0.0)
    out = run(monkeypatch, capsys, "bench/step_time.py", "--presets", "lenet5", "--steps", "1")
    assert "lenet5" in out and "within ±35%" in out


def test_the_gpu_check_runs_in_its_cpu_mode(tmp_path):
    """CI's run of the GPU proof (issue 22): every section, tiny, on the CPU, in a process
    of its own (it starts the window's training process), its report written."""
    import json
    import subprocess

    command = [sys.executable, "bench/gpu_check.py", "--device", "cpu", "--quick"]
    proc = subprocess.run(
        [*command, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["environment"]["device"] == "cpu"
    sections = report["sections"]
    assert len(sections) == 5 and not any("error" in v for v in sections.values())
    assert sections["the window's training process vs the hand loop"]["records"] > 0
    peaks = sections["peak memory per preset vs the pre-flight prediction"]
    assert all(v["predicted_saved"] == v["saved"] for v in peaks.values())
    assert "all sections:" in (tmp_path / "gpu_check.txt").read_text()
