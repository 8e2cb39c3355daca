"""``main.py sweep`` and ``main.py compare``, and two worker processes sharing one sweep."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from app.cli import main
from app.core.experiments.runs import read_run
from app.core.experiments.sweep import sweep_table

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--train-size", "64", "--val-size", "32", "--batch-size", "32", "--epochs", "1"]


def test_two_workers_share_a_sweep_without_running_a_point_twice(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [
        sys.executable, "main.py", "sweep", "presets:lenet5",
        "--param", "lr=0.01,0.02,0.03", "--param", "conv2d_1.out_channels=4,6",
        "--name", "shared", "--storage", storage, "--runs", str(tmp_path / "runs"),
        # runs of about a second: the workers overlap even when one starts seconds later
        "--train-size", "512", "--val-size", "32", "--batch-size", "32", "--epochs", "2",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    table = sweep_table("shared", storage)
    points = [tuple(sorted(r["point"].items())) for r in table]
    assert len(table) == 6 and len(set(points)) == 6  # every point once, none twice
    assert {r["state"] for r in table} == {"complete"}
    runs = [d for r in table for d in r["runs"]]
    assert len(set(runs)) == 6
    # each worker ran some of them (the result line of each trial it ran)
    ran = [out.count("→ trial") for out in outputs]
    assert sum(ran) == 6, outputs
    assert min(ran) >= 1, outputs
    for row in table:
        record = read_run(row["runs"][0])
        assert record.config["lr"] == row["point"]["lr"]


def test_sweep_then_compare_from_the_command_line(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    code = main(["sweep", "presets:lenet5", "--template", "batch_norm", "--seeds", "2",
                 "--runs", runs, "--name", "bn", *TINY])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "variant ∈ {no_bn, bn}" in out
    assert out.count("→ trial") == 2
    assert "compare with: python main.py compare --sweep bn" in out
    folder = tmp_path / "table.csv"
    code = main(["compare", "--sweep", "bn", "--runs-root", runs, "--csv", str(folder),
                 "--groups"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    # LeNet has no BatchNorm: the bn variant adds one after each of its two convolutions
    assert "graph of variant=bn · seed 0 against variant=no_bn · seed 0:" in out
    assert out.count("(batchnorm2d)") == 2
    assert "by configuration (mean ± 95% interval over seeds)" in out
    rows = list(csv.DictReader(folder.open()))
    assert [r["group"] for r in rows] == ["variant=no_bn", "variant=bn"]
    assert [r["runs"] for r in rows] == ["2", "2"]
    code = main(["compare", "--sweep", "bn", "--runs-root", runs, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert len(data["runs"]) == 4 and len(data["groups"]) == 2
    assert len(data["graph_diffs"][2]["added"]) == 2


def test_bad_sweeps_and_comparisons_exit_2_with_the_reason(tmp_path, capsys):
    assert main(["sweep", "presets:lenet5", "--param", "conv9.out_channels=4"]) == 2
    assert "no block 'conv9'" in capsys.readouterr().err
    assert main(["sweep", "presets:lenet5", "--sampler", "random", "--param", "lr=0.1,0.2"]) == 2
    assert "--trials" in capsys.readouterr().err
    assert main(["sweep", "presets:mlp", "--template", "batch_norm"]) == 2
    assert "has none" in capsys.readouterr().err
    assert main(["compare"]) == 2
    assert main(["compare", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
