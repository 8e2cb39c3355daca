"""Live training in the window, offscreen: a real run in a child process on the built-in
dataset, its curves, pause/resume/stop, the locked graph, results, export, and closing the
window mid-run."""

from __future__ import annotations

import math
import sys
import time

import pytest
from PySide6.QtCore import Qt

import presets
from app.core.serialization import Project
from app.core.training.events import Paused, Resumed, RunFinished
from app.core.training.options import OPTIMIZERS, SCHEDULES
from app.ui.document import Document
from app.ui.main_window import MainWindow
from app.ui.training.results_view import ResultsView
from tests.helpers import extra_optimizer, relu_net

FAST = {
    "dataset": "shapes_gray",
    "train_size": 512,
    "val_size": 128,
    "batch_size": 32,
    "epochs": 2,
    "report_every": 2,
}
LONG = {**FAST, "epochs": 200, "train_size": 2048}


def make_window(qtbot, training: dict, graph=None) -> MainWindow:
    graph = graph or presets.get("lenet5").build()
    win = MainWindow(Document(Project(graph, "LeNet-5", dict(training))))
    win.confirm_discard = lambda: True
    win.confirm_stop_training = lambda: True
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    return win


def wait_for(qtbot, condition, timeout=90_000):
    qtbot.waitUntil(condition, timeout=timeout)


def test_a_run_with_live_curves_results_and_exports(qtbot, tmp_path):
    torch_was_loaded = "torch" in sys.modules
    win = make_window(qtbot, FAST)
    panel = win.training
    messages: list[str] = []
    panel.message.connect(messages.append)
    win._start_training()
    assert panel.controller.running and not panel.start_button.isEnabled()
    wait_for(qtbot, panel.plots.isVisible, 5000)  # the Training dock came to the front
    wait_for(qtbot, lambda: panel.metrics.last is not None)
    first = panel.plots.point_count("loss")
    wait_for(qtbot, lambda: panel.plots.point_count("loss") > first)  # the curves grow
    wait_for(qtbot, lambda: panel.results is not None)
    wait_for(qtbot, lambda: not panel.controller.running)
    m = panel.metrics
    assert len(m.steps) == 2 * 512 // 32 and len(m.epochs) == 2 and m.end.reason == "completed"
    assert panel.plots.point_count("val_acc") == 2
    assert panel.plots.point_count("preview") == 2 * 512 // 32  # the planned LR of every step
    assert "Run completed" in panel.status.text()
    assert panel.progress.value() == panel.progress.maximum()
    assert win.device_label.text() == "device: cpu"
    # diagnostics: per-layer heat on the canvas and in the table
    assert win.scene.node_items["conv2d_1"].stat is not None
    assert panel.layers.rowCount() == len(m.layers) >= 5
    assert "update/weight" in win.scene.node_items["conv2d_1"].tooltip_text()
    # results: confusion matrix, per-class accuracy, samples
    view = panel.results_view
    assert not view.matrix.pixmap().isNull() and not view.samples.pixmap().isNull()
    assert view.table.rowCount() == len(panel.results.classes)
    narrow = ResultsView()  # in a narrow dock no column is cut off: the view scrolls instead
    qtbot.addWidget(narrow)
    narrow.resize(560, 500)
    narrow.show()
    narrow.show_results(panel.results)
    qtbot.wait(50)
    assert narrow.table.horizontalScrollBar().maximum() == 0
    for row in range(narrow.table.rowCount()):  # readable in light and dark palettes alike
        cell = narrow.table.item(row, 1)
        contrast = cell.background().color().lightness() - cell.foreground().color().lightness()
        assert abs(contrast) > 90, (row, cell.text())
    assert "Validation accuracy" in view.summary.text()
    # exports from the results, in a worker process (torch never loads in the GUI process)
    for kind, name in (("weights", "w.pt"), ("code", "m.py"), ("bundle", "b.zip")):
        panel.export(kind, tmp_path / name)
        wait_for(
            qtbot, lambda k=kind: any(m.startswith(("exported " + k, "cannot")) for m in messages)
        )
        assert f"exported {kind} to {tmp_path / name}" in messages
    assert (tmp_path / "w.pt").exists() and (tmp_path / "b.zip").exists()
    assert "class LeNet5" in (tmp_path / "m.py").read_text()
    assert "torch" not in sys.modules or torch_was_loaded
    # history: the run is listed and can be overlaid
    assert panel.history.count() == 1
    panel.history.item(0).setCheckState(Qt.CheckState.Checked)
    assert len(panel.plots.overlays) == 4  # loss, accuracy, learning rate, images/s
    assert panel.plots.overlays[0].name().endswith("sgd lr 0.05")  # time, optimizer, LR
    readout = panel.plots.read_at(10)
    assert readout.startswith("step 10: loss") and "lr" in readout
    # another document: nothing of this run stays on screen (issue 14.4)
    win.open_preset("resnet18_cifar")
    assert panel.status.text().startswith("Not trained yet") and panel.progress.value() == 0
    assert panel.results is None and view.table.rowCount() == 0 and view.matrix.pixmap().isNull()
    assert not panel.continue_button.isEnabled() and panel.layers.rowCount() == 0
    assert panel.plots.point_count("loss") == 0 and panel.plots.point_count("val_acc") == 0
    assert win.scene.node_items["conv_bn_relu_1"].stat is None


def test_pause_resume_stop_lock_and_live_learning_rate(qtbot):
    win = make_window(qtbot, LONG)
    panel, doc = win.training, win.document
    seen: list = []
    panel.controller.records.connect(seen.extend)
    before = doc.graph.copy()
    assert panel.start()
    wait_for(qtbot, lambda: panel.metrics.last is not None)
    # the graph is locked: structural and parameter edits are refused with a reason
    assert win.add_block("relu") == ""
    assert "training" in win.statusBar().currentMessage()
    win.focus_node("conv2d_1")
    win.delete_selection()
    assert doc.graph == before and not win.undo_action.isEnabled()
    assert not win.inspector.isEnabled() and not win.palette_panel.isEnabled()
    win.document.move({"conv2d_1": (500.0, 500.0)})  # moving is harmless and allowed
    assert not panel.editors["epochs"].isEnabled() and panel.editors["lr"].isEnabled()
    # the learning rate may change mid-run
    panel.apply("lr", 0.01)
    step = panel.metrics.last.step
    wait_for(qtbot, lambda: panel.metrics.last.step > step + 4)
    assert panel.metrics.lrs.values[-1] == pytest.approx(0.01)
    # pause: the steps stop where the Paused record says; resume: they go on
    panel.pause()
    assert panel.pause_button.text() == "Resume"
    wait_for(qtbot, lambda: any(isinstance(r, Paused) for r in seen))
    paused = next(r for r in seen if isinstance(r, Paused))
    qtbot.wait(700)
    assert panel.metrics.last.step <= paused.step
    panel.resume()
    assert panel.pause_button.text() == "Pause"
    wait_for(qtbot, lambda: panel.metrics.last.step > paused.step + 4)
    assert [type(r) for r in seen if isinstance(r, Paused | Resumed)] == [Paused, Resumed]
    panel.stop()
    wait_for(qtbot, lambda: not panel.controller.running)
    assert panel.metrics.end.reason == "stopped"
    # Stop frees the window at once: a stopped run is not evaluated (issue 14.6), and says so
    assert panel.results is None and "Continue Last Run resumes it" in panel.status.text()
    assert (panel.last_run_dir / "checkpoints" / "last.pt").exists()
    assert panel.continue_button.isEnabled() and doc.locked == ""
    assert win.add_block("relu")  # unlocked again
    win.undo_action.trigger()
    # continue the stopped run from its checkpoint
    stopped_at = panel.metrics.end.step
    assert panel.continue_last()
    wait_for(qtbot, lambda: panel.metrics.started is not None)
    assert panel.metrics.started.start_step == stopped_at
    panel.stop()
    wait_for(qtbot, lambda: not panel.controller.running)


def test_closing_the_window_mid_run_stops_it_cleanly(qtbot):
    win = make_window(qtbot, LONG)
    panel = win.training
    panel.start()
    wait_for(qtbot, lambda: panel.metrics.last is not None)
    process = panel.controller.handle.process
    start = time.monotonic()
    assert not win.close()  # not at once: the run stops first, without blocking the window
    assert time.monotonic() - start < 0.5 and "stopping the run" in win.statusBar().currentMessage()
    wait_for(qtbot, lambda: not win.isVisible(), 30_000)
    assert not process.is_alive() and not panel.controller.running
    run_dir = panel.last_run_dir
    assert (run_dir / "checkpoints" / "last.pt").exists()


def test_cancel_when_asked_to_save_leaves_the_run_training(qtbot, monkeypatch):
    """'Stop it?' Yes, then 'Save changes?' Cancel: nothing was done (issue 14.8)."""
    from PySide6.QtWidgets import QMessageBox

    win = make_window(qtbot, LONG)
    del win.confirm_discard, win.confirm_stop_training  # the real questions, answered below
    asked = []

    def answer(parent, title, *args):
        asked.append(title)
        if title == "Training in progress":
            return QMessageBox.StandardButton.Yes
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", answer)
    panel = win.training
    win.document.set_params("conv2d_1", {"out_channels": 8})  # unsaved work
    panel.start()
    wait_for(qtbot, lambda: panel.metrics.last is not None)
    assert not win.close()
    assert asked == ["Training in progress", "Unsaved changes"]
    step = panel.metrics.last.step
    wait_for(qtbot, lambda: panel.metrics.last.step > step)  # still training
    assert panel.controller.running and win.isVisible() and win.isEnabled()
    win.confirm_discard = lambda: True
    win.close()
    wait_for(qtbot, lambda: not win.isVisible(), 30_000)


def test_a_nan_loss_pauses_the_run_and_highlights_the_first_bad_layer(qtbot):
    """A real exploding run (lr = 100 on a ReLU net without normalisation): the run pauses
    with the weights back at the start, the layer is outlined, the learning rate is offered;
    the user lowers it and resumes, and the run completes."""
    win = make_window(qtbot, {**FAST, "lr": 100.0}, relu_net())
    panel = win.training
    panel.start()
    wait_for(qtbot, lambda: bool(panel.metrics.diverged) and panel.controller.paused)
    event = panel.metrics.diverged[0]
    assert panel.controller.running and panel.pause_button.text() == "Resume"
    item = win.scene.node_items[event.node_id]
    assert item.nonfinite and win.scene.selected_node_ids() == [event.node_id]
    assert "NaN/Inf" in item.tooltip_text()
    text = panel.status.text()
    assert "Paused" in text and "Lower the learning rate" in text and "the start" in text
    assert panel.tabs.currentWidget() is panel.settings_page  # the settings, with the LR editable
    assert panel.editors["lr"].isEnabled()
    panel.apply("lr", 0.05)
    panel.resume()
    wait_for(qtbot, lambda: not panel.controller.running)
    finished = panel.metrics.end
    assert isinstance(finished, RunFinished) and finished.reason == "completed", finished
    assert not item.nonfinite  # cleared on resume
    steps = list(panel.metrics.steps.values)
    assert steps == list(range(finished.step))  # the undone steps left the curves
    assert all(map(math.isfinite, panel.metrics.losses.values))
    assert panel.config().lr == 0.05  # stored for the next run


def test_settings_are_stored_in_the_project_and_refused_when_invalid(qtbot):
    win = make_window(qtbot, FAST)
    panel, doc = win.training, win.document
    panel.apply("epochs", 7)
    assert doc.project.training["epochs"] == 7 and doc.modified
    doc.undo_stack.undo()
    assert doc.project.training["epochs"] == 2
    assert panel.editors["epochs"].value() == 2  # the form follows undo
    panel.apply("milestones", "ten, twenty")
    assert "refused: milestones" in win.statusBar().currentMessage()
    panel.apply("schedule", "cosine")
    assert panel.plots.point_count("preview") == 2 * 512 // 32


def test_the_form_offers_every_registered_option_with_its_help(qtbot):
    """One registry entry puts an optimizer in the form; choosing it is one undoable edit."""
    with extra_optimizer() as name:
        win = make_window(qtbot, FAST)
        combo = win.training.editors["optimizer"]
        names = [combo.itemText(i) for i in range(combo.count())]
        assert names == list(OPTIMIZERS.names()) and name in names
        index = names.index(name)
        tip = combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
        assert tip == "averaged SGD (a test's extra optimizer)"
        combo.setCurrentIndex(index)
        assert win.document.project.training["optimizer"] == name
        win.document.undo_stack.undo()
        assert combo.currentText() == "sgd"
    schedule = win.training.editors["schedule"]
    assert schedule.itemData(0, Qt.ItemDataRole.ToolTipRole) == SCHEDULES["constant"].help


def test_opening_another_document_mid_run_asks_then_stops_it(qtbot):
    win = make_window(qtbot, LONG)
    del win.confirm_discard  # the real one: it asks about the run first
    asked = []
    win.confirm_stop_training = lambda: asked.append(True) or True
    seen: list = []
    win.training.controller.records.connect(seen.extend)
    win.training.start()
    wait_for(qtbot, lambda: win.training.metrics.last is not None)
    process = win.training.controller.handle.process
    win.document.undo_stack.setClean()
    win.open_preset("mlp")  # returns at once: the window is not held while the run stops
    assert asked == [True] and "stopping the run" in win.statusBar().currentMessage()
    wait_for(qtbot, lambda: win.document.project.name.lower().startswith("mlp"), 30_000)
    assert not win.training.controller.running and not process.is_alive()
    assert [e.reason for e in seen if isinstance(e, RunFinished)] == ["stopped"]
    assert win.training.metrics is None  # the new document shows nothing of that run


def test_the_panel_redraws_between_a_rollback_and_the_next_report(qtbot):
    """Records as a NaN pause sends them, with no report after the resume yet (in a real
    run this is a race: the redraw read the loss of an emptied curve and raised)."""
    from app.core.training.events import Diverged, RunStarted, StepReport

    win = make_window(qtbot, FAST)
    panel = win.training
    started = RunStarted("", "cpu", "shapes", ("a", "b"), (1, 28, 28), 64, 16, 10, 1, 8, 8, 0)
    report = StepReport(4, 0, (0, 1, 2, 3), (2.0, 9.0, 1e30, 1e35), (100.0,) * 4, 0.1, 1.0, 1.0, 1)
    diverged = Diverged(5, 0, 100.0, float("nan"), None, "the loss became nan", 0)
    panel.on_records([started, report])
    panel.redraw()
    panel.on_records([diverged, Paused(0), Resumed(0)])
    panel._dirty = True
    panel.redraw()  # must not raise
    assert len(panel.metrics.steps) == 0 and panel.metrics.last is None
    panel.plots.redraw()
    assert panel.plots.point_count("loss") == 0


def test_the_plots_follow_a_dark_palette(qtbot):
    """On a dark desktop the plots are dark too (a white plot area would glare), with light
    axes; on a light one they are white."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    from app.ui.training.plots import MetricsPlots

    app = QApplication.instance()
    light = app.palette()
    try:
        app.setPalette(QPalette(QColor("#2b2d31")))
        dark = MetricsPlots()
        qtbot.addWidget(dark)
    finally:
        app.setPalette(light)
    bright = MetricsPlots()
    qtbot.addWidget(bright)
    assert dark.dark and not bright.dark
    assert dark.view.backgroundBrush().color().lightness() < 100
    assert bright.view.backgroundBrush().color().lightness() > 240
    axis = dark.loss.getAxis("left").textPen().color()
    assert axis.lightness() > 150  # readable on the dark background


def test_the_end_of_a_run_cites_only_measured_scores():
    """'best validation accuracy 0.00% (epoch 0)' stood beside Results' 13.20% (issue 14.7)."""
    from app.ui.training.panel import finish_text

    early = RunFinished("stopped", 7, 0, 0, 0.0, math.inf, "/runs/x")
    assert "no validation score yet" in finish_text(early) and "0.00%" not in finish_text(early)
    done = RunFinished("completed", 32, 2, 2, 0.5, 1.0, "/runs/x")
    assert (
        finish_text(done) == "Run completed at step 32: best validation accuracy 50.00% (epoch 2)."
    )


def test_the_results_summary_wraps_at_the_dock_s_width(qtbot):
    """A wide confusion matrix scrolls; the summary above it stays readable (it ran off the
    right edge at 1000×700)."""
    from PySide6.QtGui import QPixmap

    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(380, 500)
    view.matrix.setPixmap(QPixmap(900, 300))
    view.summary.setText(
        "Validation accuracy 97.15% on 2,000 images with the best checkpoint. " * 3
    )
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(100)  # laid out
    assert view.summary.isVisible()
    assert view.summary.mapTo(view, view.summary.rect().topRight()).x() < view.width()
