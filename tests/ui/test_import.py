"""File → Import PyTorch Model…: the dialog, the import in its own process (the window stays
responsive and never imports torch), Cancel, and a failure's message."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QPushButton

import presets
from app.core.serialization import Project
from app.ui.document import Document
from app.ui.import_dialog import ImportDialog
from tests.ui.helpers import open_window

USER = Path(__file__).resolve().parents[1] / "imports" / "user_models.py"


@pytest.fixture
def window(qtbot):
    p = presets.get("lenet5")
    return open_window(
        qtbot, (1200, 800), active=True, document=Document(Project(p.build(), p.title))
    )


def test_the_dialog_checks_its_fields_and_builds_the_command(qtbot, tmp_path):
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    assert "Name a torchvision model" in dialog.problem()
    QTest.keyClicks(dialog.source, "resnet.txt")
    assert "torchvision:NAME, FILE.py" in dialog.problem()
    dialog.source.setText(f"{USER}:TinyNet")
    dialog.shape.setText("3,32")
    assert "three positive whole numbers" in dialog.problem()
    dialog.shape.setText("3, 32, 32")
    assert dialog.problem() == ""
    dialog.args.setText('{"width": 8}')
    out = tmp_path / "net.json"
    assert dialog.arguments(out) == [
        "import", f"{USER}:TinyNet", "-o", str(out), "--input", "3,32,32", "--args",
        '{"width": 8}',
    ]  # fmt: skip
    assert dialog.suggested_name() == "TinyNet"
    dialog.source.setText("torchvision:resnet18")
    assert dialog.suggested_name() == "resnet18"


def test_an_import_runs_in_its_own_process_and_opens_the_project(window, qtbot, tmp_path):
    out = tmp_path / "tiny.json"
    argv = ["import", f"{USER}:TinyNet", "-o", str(out), "--input", "3,32,32"]
    job = window.import_model(argv, out)
    assert job.isVisible()  # the progress dialog, with its Cancel button
    # the window keeps painting and answering while the worker traces the model
    ticks = 0
    deadline = time.monotonic() + 120
    while window.document.path != out and time.monotonic() < deadline:
        QTest.qWait(50)
        ticks += 1
    assert window.document.path == out
    assert ticks > 5
    graph = window.document.graph
    assert graph.node("blocks_0_left").path == "blocks.0.left"
    assert window.document.report.ok
    assert "17 nodes, all 17 onto NetBuilder blocks" in window.statusBar().currentMessage()
    assert window.document.project.training == {"weights": "tiny.pt"}

    # F5 trains it from the imported weights, on the built-in data
    short = {"dataset": "shapes", "train_size": 256, "val_size": 64, "batch_size": 32}
    window.document.set_training({"weights": "tiny.pt", "epochs": 1, **short})
    panel = window.training
    with qtbot.waitActive(window):  # the progress dialog had the focus
        window.activateWindow()
    window.view.setFocus()  # as after a click on the canvas
    QTest.keyClick(window.view, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: panel.controller.running or panel.metrics is not None, timeout=5000)
    qtbot.waitUntil(
        lambda: panel.metrics is not None and panel.metrics.end is not None, timeout=120_000
    )
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=30_000)  # its thread ended
    assert panel.metrics.end.reason == "completed"
    log = (Path(panel.metrics.end.run_dir) / "run.log").read_text()
    assert f"from the weights in {tmp_path / 'tiny.pt'}" in log


def test_cancel_stops_the_import_and_writes_nothing(window, qtbot, tmp_path):
    out = tmp_path / "vgg.json"
    job = window.import_model(["import", "torchvision:vgg19", "-o", str(out)], out)
    qtbot.waitUntil(lambda: job.process.state() == job.process.ProcessState.Running, timeout=5000)
    button = job.findChild(QPushButton)
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)  # the dialog's Cancel
    qtbot.waitUntil(lambda: "cancelled" in window.statusBar().currentMessage(), timeout=10000)
    assert not out.exists() and not out.with_suffix(".pt").exists()
    assert window.document.path != out


def test_a_failure_shows_the_reason_and_keeps_the_document(window, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    before = window.document
    out = tmp_path / "bad.json"
    window.import_model(["import", f"{USER}:Untraceable", "-o", str(out), "--input", "3,8,8"], out)
    qtbot.waitUntil(lambda: bool(shown), timeout=120000)
    assert "torch.fx cannot trace Untraceable" in shown[0]
    assert "user_models.py:" in shown[0]
    assert window.document is before and not out.exists()


def test_stages_are_framed_and_the_frames_follow_their_blocks(qtbot):
    from PySide6.QtCore import QPointF

    from app.core.layout import layered_layout
    from tests.core.test_compiler import graph_with_paths

    graph = graph_with_paths()
    for nid, pos in layered_layout(graph).items():
        graph.move_node(nid, pos)
    win = open_window(qtbot, document=Document(Project(graph, "paths")))
    scene = win.scene
    assert set(scene.group_items) == {"features", "layer1"}  # "extra" has one block: no frame
    frame = scene.group_items["layer1"]
    members = [scene.node_items[n] for n in ("conv2d_2", "batchnorm2d_1")]
    for item in members:
        assert frame.frame.contains(item.sceneBoundingRect())
    assert frame.members == 2
    assert not frame.frame.contains(scene.node_items["linear_1"].sceneBoundingRect())
    # dragging a block drags its frame's edge along
    item = members[1]
    item.setPos(item.pos() + QPointF(600, 0))
    assert frame.frame.contains(item.sceneBoundingRect())
    # a block taken out of the stage leaves the frame; the last but one removes it
    win.document.graph.set_path("batchnorm2d_1", "")
    win.document.changed.emit()
    assert "layer1" not in scene.group_items
