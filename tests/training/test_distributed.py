"""Training under torchrun with DistributedDataParallel: 2 CPU processes, gloo backend."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_torchrun_two_processes_train_identical_replicas(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "main.py",
        "train",
        "presets:lenet5",
        "--dataset",
        "shapes_gray",
        "--train-size",
        "2048",
        "--val-size",
        "256",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--nesterov",
        "--runs",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # one process prints; each rank takes 1,024 images per epoch in batches of 32
    assert out.count("training on cpu") == 1
    assert "2 epochs × 32 steps" in out
    assert "2 processes: final weights identical on every rank" in out
    (run,) = tmp_path.iterdir()  # only rank 0 writes a run directory
    assert "2 ranks: replicas identical" in (run / "run.log").read_text()
    rows = list(csv.DictReader((run / "epochs.csv").read_text().splitlines()))
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])  # it learned
