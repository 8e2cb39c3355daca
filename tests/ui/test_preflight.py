"""Pre-flight memory in the window (issue 21): the Summary's train-mem column and totals, the
status bar's figure following edits and settings, and the warning before Start when the batch
will not fit."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

import presets
from app.core.cost import bytes_text, training_cost
from app.core.serialization import Project
from app.core.shapes import check
from app.ui.document import Document
from tests.ui.helpers import open_window
from tests.ui.test_training import FAST, make_window, wait_for


def test_summary_and_status_bar_follow_edits_and_settings(qtbot, monkeypatch):
    monkeypatch.setattr("app.core.cost.available_memory", lambda: 64 * 2**30)
    win = make_window(qtbot, FAST)
    win.docks["Summary"].raise_()
    graph = win.document.graph
    expected = training_cost(graph, check(graph), FAST["batch_size"])
    wait_for(qtbot, lambda: win.cost_label.text() != "", 5000)
    assert win.cost_label.text() == (
        f"step ≈ {bytes_text(expected.peak)} at batch 32 · cpu fits ≤ "
        f"{win.cost_label.text().split('≤ ')[1]}"
    )
    headers = [win.summary.table.horizontalHeaderItem(c).text() for c in range(8)]
    assert headers[-1] == "train mem"
    wait_for(qtbot, lambda: win.summary.table.item(1, 7) is not None, 5000)
    row = next(r for r in range(win.summary.table.rowCount())
               if win.summary.table.item(r, 1).text() == "conv2d_1")  # fmt: skip
    assert win.summary.table.item(row, 7).value == expected.nodes["conv2d_1"].total
    assert "training step at batch 32" in win.summary.totals.text()
    assert "optimizer" in win.summary.totals.toolTip()
    # a settings change (the batch) and an edit (a wider conv) both move the figure
    win.training.apply("batch_size", 64)
    wait_for(qtbot, lambda: "at batch 64" in win.cost_label.text(), 5000)
    before = win.cost_label.text()
    win.scene.clearSelection()
    win.scene.node_items["conv2d_1"].setSelected(True)
    win.document.set_params("conv2d_1", {"out_channels": 32})
    wait_for(qtbot, lambda: win.cost_label.text() != before, 5000)
    wider = graph.copy()
    expected = training_cost(wider, check(wider), 64)
    assert bytes_text(expected.peak) in win.cost_label.text()


def test_start_warns_when_the_batch_will_not_fit_and_names_the_batch_that_does(qtbot, monkeypatch):
    graph = presets.get("lenet5").build()
    peak = training_cost(graph, check(graph), 32).peak
    monkeypatch.setattr("app.core.cost.available_memory", lambda: peak // 2)
    win = open_window(qtbot, active=True, document=Document(Project(graph, "LeNet-5", FAST)))
    panel = win.training
    win.view.setFocus()  # as after a click on the canvas
    QTest.keyClick(win.view, Qt.Key.Key_F5)
    assert not panel.controller.running
    assert "Will not fit" in panel.status.text() and "fits (Settings" in panel.status.text()
    wait_for(qtbot, lambda: "does NOT fit" in win.cost_label.text(), 5000)
    # a second Start tries anyway (the prediction may be pessimistic)
    QTest.keyClick(win.view, Qt.Key.Key_F5)
    assert panel.controller.running
    panel.stop()
    wait_for(qtbot, lambda: not panel.controller.running)


def test_a_calibrated_device_gives_the_time_before_start_and_beside_the_real_speed(
    qtbot, tmp_path, monkeypatch
):
    import json

    from app.core.cost import calibration_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # this test's calibration
    calibration_file().parent.mkdir(parents=True, exist_ok=True)
    speed = {"device": "cpu", "conv": [[1, 1e9], [5000, 1e9]], "narrow": [],
             "linear_flops": 1e9, "bandwidth": 1e10, "overhead_s": 1e-5,
             "measured": "2026-12-07 08:00"}  # fmt: skip
    calibration_file().write_text(json.dumps({"cpu|2|test": speed}))
    win = make_window(qtbot, FAST)
    wait_for(qtbot, lambda: ", ≈ " in win.cost_label.text(), 5000)
    assert "time per step ≈" in win.cost_label.toolTip()
    win._start_training()
    panel = win.training
    wait_for(qtbot, lambda: "(predicted " in panel.status.text())
    panel.stop()
    wait_for(qtbot, lambda: not panel.controller.running)


def test_the_summary_and_the_status_bar_give_the_same_largest_batch(qtbot, monkeypatch):
    """They ask at different moments, and the free memory moves between: one reading of it
    serves both for a few seconds (they showed 332,310 and 332,210 side by side)."""
    readings = iter(range(2**33, 2**34, 2**20))  # a different figure at every asking
    monkeypatch.setattr("app.core.cost.available_memory", lambda: next(readings))
    win = make_window(qtbot, FAST)
    win.docks["Summary"].raise_()
    wait_for(qtbot, lambda: "fits ≤" in win.cost_label.text(), 5000)
    wait_for(qtbot, lambda: "fits ≤" in win.summary.totals.text(), 5000)
    status = win.cost_label.text().split("fits ≤ ")[1]
    assert win.summary.totals.text().split("fits ≤ ")[1] == status
