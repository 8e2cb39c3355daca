"""Layering: app.core, presets and blocks never import Qt or app.ui; the core model sits below
the engine, which sits below the exporters (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    cmd = [str(exe)] if exe.exists() else [shutil.which("lint-imports") or "lint-imports"]
    proc = subprocess.run(
        [*cmd, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_the_core_model_contract_lists_every_core_module():
    """A module added to app.core (outside training/ and export/) is held below the engine
    and the exporters too: the contract names each one."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (below,) = [c for c in contracts["contracts"] if c["name"].startswith("The core model")]
    core = ROOT / "app" / "core"
    modules = {f"app.core.{p.stem}" for p in core.glob("*.py") if p.stem != "__init__"}
    modules |= {
        f"app.core.{p.name}"
        for p in core.iterdir()
        if p.is_dir()
        and (p / "__init__.py").exists()
        and p.name not in ("training", "export", "experiments")
    }
    assert set(below["source_modules"]) == modules
    assert set(below["forbidden_modules"]) == {
        "app.core.training",
        "app.core.export",
        "app.core.experiments",
    }


def test_core_imports_without_qt():
    """Also what main.py imports: the training process is spawned and re-imports the main
    script, and with PySide6 loaded it trained 5-15% slower (bench/gui_training.py)."""
    code = (
        "import sys, app.core.shapes, app.core.compiler, app.core.serialization, presets, "
        "blocks, app.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_gui_start_up_path_does_not_import_torch():
    """The window can appear before torch (seconds to import) is loaded: the catalogue,
    presets, shape checks, code export and the window's modules need no torch. The plots
    (pyqtgraph) load after the window has shown, in a thread, and never bring torch."""
    code = (
        "import sys, os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.ui.app import default_document\n"
        "from app.ui.main_window import MainWindow\n"
        "w = MainWindow(default_document())\n"
        "w.show()\n"
        "assert 'pyqtgraph' not in sys.modules, 'the plots were loaded before the window'\n"
        "app.processEvents(); w.code.refresh()\n"
        "assert 'class LeNet5' in w.code.editor.toPlainText()\n"
        "assert 'torch' not in sys.modules, 'torch was imported on the start-up path'\n"
        "import time\n"
        "from app.ui import warm_up\n"
        "end = time.monotonic() + 60\n"
        "while not warm_up.done.is_set() and time.monotonic() < end:\n"
        "    app.processEvents(); time.sleep(0.01)  # the idle-time imports, in their thread\n"
        "assert warm_up.done.is_set()\n"
        "assert 'app.ui.training.plots' in sys.modules\n"
        "assert 'torch' not in sys.modules, 'the warm-up imported torch'\n"
        "w.document.undo_stack.setClean(); w.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_run_folders_are_read_without_torch(tmp_path):
    """RunDir owns the run folder's layout; the window reads runs through it (history,
    Continue, exports' checks), so reading must not load torch, nor create anything."""
    run = tmp_path / "20261201-120000-net"
    run.mkdir()
    (run / "config.json").write_text('{"optimizer": "sgd", "lr": 0.1}')
    (run / "metrics.jsonl").write_text('{"event": "Resumed", "step": 3}\n{"event": "Bad"}\n')
    code = (
        "import sys\n"
        "from app.core.training.rundir import RunDir\n"
        f"run = RunDir({str(run)!r}, create=False)\n"
        "assert run.label() == '12:00 sgd lr 0.1', run.label()\n"
        "assert [type(e).__name__ for e in run.events()] == ['Resumed']\n"
        "assert not run.has_checkpoint('last') and run.project_name() is None\n"
        "assert 'torch' not in sys.modules, 'reading a run folder imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    assert not (run / "checkpoints").exists()
