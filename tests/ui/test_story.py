"""A newcomer's first minutes, driven with input events on the widgets (keys, clicks, drags,
drops), not method calls (issue 14): new document → blocks from the palette → connect ports →
a shape error → undo → a preset from the dialog → F5 → a report within seconds → Stop →
a short run to the end → Results → export the code → close."""

from __future__ import annotations

import time

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from app.ui import file_names
from app.ui.main_window import MainWindow
from app.ui.panels import BLOCK_MIME
from app.ui.presets_dialog import PresetsDialog
from tests.ui.helpers import open_window


def port_pos(win: MainWindow, node_id: str, kind: str) -> QPoint:
    item = win.scene.node_items[node_id]
    local = item.output_port() if kind == "out" else item.input_port(0)
    return win.view.mapFromScene(item.mapToScene(local))


def drag_port(qtbot, win: MainWindow, src: str, dst: str) -> None:
    viewport = win.view.viewport()
    start, end = port_pos(win, src, "out"), port_pos(win, dst, "in")
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=(start + end) / 2)
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def drop_block(win: MainWindow, type_id: str, at: QPoint) -> None:
    """What the view receives when a palette item is dropped on it."""
    mime = QMimeData()
    mime.setData(BLOCK_MIME, type_id.encode())
    event = QDropEvent(
        QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    win.view.dropEvent(event)


def key(qtbot, win: MainWindow, sequence: str) -> None:
    """Press a shortcut on the focused widget (as the keyboard does)."""
    from PySide6.QtGui import QKeySequence

    combo = QKeySequence(sequence)[0]
    target = QApplication.focusWidget() or win
    qtbot.keyClick(target, combo.key(), combo.keyboardModifiers())


def type_into(qtbot, spin, text: str) -> None:
    qtbot.mouseDClick(spin.lineEdit(), Qt.MouseButton.LeftButton)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def test_the_first_minutes(qtbot, tmp_path, monkeypatch):
    win = open_window(qtbot, active=True)
    del win.confirm_discard  # the real question: a new sketch has nothing to lose yet
    win.view.setFocus()
    # a new document (Ctrl+N; nothing unsaved yet, so nothing is asked)
    key(qtbot, win, "Ctrl+N")
    graph = win.document.graph
    assert list(graph.nodes) == ["input_1"]
    # blocks from the palette, dropped on the canvas below the Input
    below = port_pos(win, "input_1", "out")
    drop_block(win, "conv2d", below + QPoint(0, 60))
    drop_block(win, "linear", below + QPoint(0, 200))
    assert {"conv2d_1", "linear_1"} <= set(graph.nodes)
    # connect the ports by dragging: Input → Conv2d works, Conv2d → Linear is a shape error
    drag_port(qtbot, win, "input_1", "conv2d_1")
    assert graph.inputs_of("conv2d_1") == ["input_1"]
    drag_port(qtbot, win, "conv2d_1", "linear_1")
    assert graph.inputs_of("linear_1") == ["conv2d_1"]
    errors = [p.message for p in win.document.report.errors]
    assert any("linear_1" in m and "flat" in m for m in errors), errors
    assert win.scene.node_items["linear_1"].error
    # undo (Ctrl+Z) takes the connection back, and the error with it
    win.view.setFocus()
    key(qtbot, win, "Ctrl+Z")
    assert graph.inputs_of("linear_1") == [None]
    assert not any("flat" in p.message for p in win.document.report.errors)
    # a preset from the dialog (Ctrl+Shift+N): pick LeNet-5, Open; then discard this sketch
    monkeypatch.setattr(win, "confirm_discard", lambda: True)

    def choose() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, PresetsDialog)
        dialog.select("lenet5")
        qtbot.keyClick(dialog.list, Qt.Key.Key_Return)

    QTimer.singleShot(300, choose)
    key(qtbot, win, "Ctrl+Shift+N")
    qtbot.waitUntil(lambda: win.document.project.name == "LeNet-5")  # a turn after Open
    win.activateWindow()  # the dialog has gone: the window is active again (a WM's job)
    qtbot.waitUntil(win.isActiveWindow)
    # F5 trains at once, with a report within seconds
    win.view.setFocus()
    started = time.monotonic()
    key(qtbot, win, "F5")
    panel = win.training
    qtbot.waitUntil(
        lambda: panel.metrics is not None and panel.metrics.last is not None, timeout=60_000
    )
    assert time.monotonic() - started < 60  # measured: about 3 s, the first step reported
    qtbot.waitUntil(lambda: "epoch 1/10" in panel.status.text())  # the next redraw says it
    # Stop (Shift+F5) frees the window quickly, and says why there are no results
    win.view.setFocus()
    key(qtbot, win, "Shift+F5")
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=30_000)
    assert "Continue Last Run" in panel.status.text() and panel.start_button.isEnabled()
    # a short run to the end: one epoch of 512 images, typed into the settings
    win.docks["Training"].raise_()
    panel.tabs.setCurrentWidget(panel.settings_page)
    panel.toolbox.setCurrentWidget(panel.editors["epochs"].parentWidget())
    type_into(qtbot, panel.editors["epochs"], "1")
    panel.toolbox.setCurrentWidget(panel.editors["train_size"].parentWidget())
    type_into(qtbot, panel.editors["train_size"], "512")
    assert (panel.config().epochs, panel.config().train_size) == (1, 512)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.results is not None, timeout=120_000)
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=30_000)
    assert "Run completed" in panel.status.text()
    # Results, and the code exported from there
    panel.tabs.setCurrentWidget(panel.results_tab)
    assert panel.results_view.table.rowCount() == len(panel.results.classes)
    target = tmp_path / "lenet.py"
    monkeypatch.setattr(file_names, "ask_save", lambda *a, **k: str(target))
    messages: list[str] = []
    panel.message.connect(messages.append)
    qtbot.mouseClick(panel.results_tab.buttons["code"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: any(m.startswith(("exported", "cannot")) for m in messages), timeout=60_000
    )
    assert target.exists() and "class LeNet5(nn.Module)" in target.read_text()
    # close (Ctrl+Q): nothing is running, nothing is lost
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    win.view.setFocus()
    key(qtbot, win, "Ctrl+Q")
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=10_000)
