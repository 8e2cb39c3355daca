"""Headless CLI: ``python main.py check FILE|presets:NAME [--json]``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.core.serialization import Project, save
from tests.helpers import chain, image

ROOT = Path(__file__).resolve().parents[1]


def test_check_preset_prints_table_and_totals(capsys):
    assert main(["check", "presets:resnet18_cifar"]) == 0
    out = capsys.readouterr().out
    assert "residual_3        ResidualBlock  128×16×16" in out
    assert "11,173,962" in out
    assert "counted layers (conv + linear): 18" in out
    assert out.rstrip().endswith("OK: 0 error(s), 0 warning(s)")


def test_check_json(capsys):
    assert main(["check", "presets:lenet5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["totals"]["params"] == 61_706 and data["totals"]["layers"] == 5
    assert data["input_shape"] == [1, 28, 28] and data["output_shape"] == [10]
    first = data["nodes"][1]
    assert first == {
        "id": "conv2d_1",
        "block": "conv2d",
        "output_shape": [6, 28, 28],
        "params": 156,
        "macs": 117_600,
        "memory_bytes": 18_816,
        "receptive_field": 5,
        "depth": 1,
        # weights, gradients, momentum, and the batch of 128 images it keeps for backward
        "training_bytes": 3 * 4 * 156 + 128 * 4 * 28 * 28,
    }
    assert [w["code"] for w in data["warnings"]] == ["linear_heavy"]


def test_check_file_with_errors_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.json"
    save(Project(chain(image(3, 3, 3), ("conv2d", {"kernel_h": 5, "kernel_w": 5}))), path)
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "error: conv2d_1 (Conv2d): H: kernel 5 > padded input 3" in out
    assert "FAILED: 1 error(s)" in out
    assert main(["check", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["errors"][0]["node"] == "conv2d_1"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file not found"),
        (b"{not json", "not valid JSON"),
        (b"\x00\x01\xff", "not UTF-8"),
        ("presets:nope", "no preset named 'nope'"),
    ],
)
def test_bad_sources_give_messages_not_tracebacks(tmp_path, content, expected):
    if isinstance(content, str):
        spec = content
    else:
        spec = str(tmp_path / "x.json")
        if content is not None:
            Path(spec).write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "main.py", "check", spec],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_presets_command_lists_every_preset_with_input_params_and_macs(capsys):
    import presets

    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in presets.names():
        assert f"\n{name} " in out
    assert (
        "resnet50               ResNet-50                         3×224×224   25,557,032  4.09 G"
        in out
    )


@pytest.mark.parametrize("name", __import__("presets").names())
def test_check_works_on_every_preset(name, capsys):
    assert main(["check", f"presets:{name}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["trian", "presets:lenet5"], "Did you mean 'train'?"),
        (["chek", "presets:lenet5", "--json"], "Did you mean 'check'?"),
        (["exprot"], "Did you mean 'export'?"),
        (["frobnicate", "x"], "commands: check, presets, train, evaluate, export"),
        (["a.json", "b.json"], "the window opens one file"),
    ],
)
def test_unknown_commands_are_refused_not_opened_in_the_window(argv, hint, capsys, monkeypatch):
    import app.ui.app

    monkeypatch.setattr(app.ui.app, "run", lambda *a: pytest.fail("the window was opened"))
    assert main(argv) == 2
    assert hint in capsys.readouterr().err


def test_a_file_or_preset_alone_still_opens_the_window(monkeypatch, tmp_path):
    import app.ui.app

    opened = []
    monkeypatch.setattr(app.ui.app, "run", lambda path=None: opened.append(path) or 0)
    assert main(["presets:resnet18"]) == 0
    assert main([str(tmp_path / "new.json")]) == 0
    assert main([]) == 0
    assert opened == ["presets:resnet18", str(tmp_path / "new.json"), None]


def test_internal_errors_exit_3_with_one_line_and_a_log(monkeypatch, tmp_path, capsys):
    """A bug is not an invalid network (exit 1): it gets its own code and no bare traceback."""
    import platformdirs

    import app.cli as cli
    import app.cli_check

    monkeypatch.setattr(platformdirs, "user_log_dir", lambda *a, **k: str(tmp_path / "logs"))

    def broken(args):
        raise KeyError("surprise")

    monkeypatch.setattr(app.cli_check, "cmd_check", broken)
    assert main(["check", "presets:lenet5"]) == cli.EXIT_INTERNAL == 3
    err = capsys.readouterr().err
    assert err.startswith("internal error: KeyError: 'surprise'") and "Traceback" not in err
    (log,) = (tmp_path / "logs").glob("crash-*.log")
    assert "Traceback" in log.read_text() and str(log) in err


def test_missing_xcb_libraries_give_the_install_command(monkeypatch, capsys):
    """A fresh Debian desktop aborted with 'Could not load the Qt platform plugin xcb' until
    libxcb-cursor0 and friends were installed (issue 14.11)."""
    import ctypes.util

    import app.ui.app as gui

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr(
        ctypes.util, "find_library", lambda name: None if name == "xcb-cursor" else "lib.so"
    )
    assert gui.missing_display_packages() == ["libxcb-cursor0"]
    assert gui.run() == 2
    assert "sudo apt-get install libxcb-cursor0" in capsys.readouterr().err
    monkeypatch.setenv("NETBUILDER_SKIP_XCB_CHECK", "1")  # libraries ldconfig cannot see
    assert gui.missing_display_packages() == []
    monkeypatch.delenv("NETBUILDER_SKIP_XCB_CHECK")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # tests and CI: nothing to check
    assert gui.missing_display_packages() == []


def test_export_train_with_invalid_settings_says_why_without_a_crash_log(tmp_path, capsys):
    """A hand-edited project with an impossible setting: `export --format train` exited 3 with
    a crash log (an unexpected ConfigError); it is the project's problem, said plainly."""
    import presets

    project = presets.get("lenet5").project()
    project.training = {**project.training, "train_size": 5}
    save(project, tmp_path / "p.json")
    out = tmp_path / "export"
    code = main(["export", str(tmp_path / "p.json"), "--format", "train", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "train_size: 5 is below the minimum 16" in err
    assert "details:" not in err and not out.exists()  # nothing half-written
