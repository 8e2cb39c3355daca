"""The experiments story in the window: define a sweep in the dialog, watch the queue run it
in the training process and fill the trial table, queue a course experiment behind it, and
open the comparison with its graph diff drawn on a canvas."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from app.core.experiments.runs import smoothed
from tests.ui.test_training import make_window, wait_for

TINY = {
    "dataset": "shapes_gray",
    "train_size": 64,
    "val_size": 32,
    "batch_size": 32,
    "epochs": 2,
    "report_every": 1,
}


def _define(qtbot, win, fill) -> None:
    """Open Train → New Experiment…, let ``fill(dialog)`` type into it, press Add to Queue."""
    panel = win.training

    def drive() -> None:
        dialog = panel._dialog
        fill(dialog)
        dialog.update_preview()
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert ok.isEnabled(), dialog.preview.text()
        QTest.mouseClick(ok, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, drive)
    win._new_experiment()


def test_queue_a_sweep_watch_its_table_and_compare(qtbot):
    win = make_window(qtbot, TINY)
    panel, tab = win.training, win.training.experiments
    previews: list[str] = []

    def sweep(dialog) -> None:
        QTest.keyClicks(dialog.params, "lr=0.01,0.05")
        dialog.seeds.selectAll()
        QTest.keyClicks(dialog.seeds, "2")
        dialog.update_preview()
        previews.append(dialog.preview.text())

    _define(qtbot, win, sweep)
    assert "2 point(s) × 2 seed(s) = 4 run(s)" in previews[0]
    assert panel.controller.running and tab.current is tab.items[0]
    assert panel.tabs.currentWidget() in (tab, panel.plots_host)

    # a course experiment waits behind it
    def course(dialog) -> None:
        index = dialog.template.findData("batch_norm")
        dialog.template.setCurrentIndex(index)
        dialog.seeds.setValue(1)

    _define(qtbot, win, course)
    assert [i.state for i in tab.items] == ["running", "queued"]
    assert tab.items[1].title == "Batch normalisation vs none"
    # a third, moved up and removed again
    _define(qtbot, win, lambda d: QTest.keyClicks(d.params, "batch_size=16,32"))
    tab.queue.setCurrentRow(2)
    QTest.mouseClick(tab.up_button, Qt.MouseButton.LeftButton)
    assert [i.title for i in tab.items][1] == "batch_size"
    QTest.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert len(tab.items) == 2
    # the first sweep's trials fill the table as they finish; the curves follow each run
    tab.queue.setCurrentRow(0)
    wait_for(qtbot, lambda: tab.table.rowCount() >= 1 and tab.table.item(0, 4).text() == "complete")
    assert "%" in tab.table.item(0, 3).text() and "±" in tab.table.item(0, 3).text()
    wait_for(qtbot, lambda: tab.items[0].state == "done", 120_000)
    assert [tab.table.item(r, 1).text() for r in range(2)] == ["lr=0.01", "lr=0.05"]
    assert len(tab.items[0].runs) == 4
    # the queue went on to the course experiment by itself
    wait_for(qtbot, lambda: tab.items[1].state == "done", 120_000)
    wait_for(qtbot, lambda: not panel.controller.running)
    assert "Sweep finished" in panel.status.text()
    assert len(panel.metrics.epochs) == 2  # the last run's own curves, not all runs'
    # compare the sweep: two configurations of two seeds each
    tab.queue.setCurrentRow(0)
    assert tab.compare_button.isEnabled()
    QTest.mouseClick(tab.compare_button, Qt.MouseButton.LeftButton)
    dialog = panel.comparison
    assert dialog.groups.rowCount() == 2
    assert [dialog.groups.item(r, 0).text() for r in range(2)] == ["lr=0.01", "lr=0.05"]
    assert dialog.groups.item(0, 1).text() == "2"
    headers = [
        dialog.settings.horizontalHeaderItem(c).text() for c in range(dialog.settings.columnCount())
    ]
    assert "lr" in headers and "seed" in headers
    assert dialog.diff_lines.item(0).text() == "the same graph: only settings differ"
    assert dialog.axis.currentText() == "lr"
    dialog.close()
    # the course experiment's graph diff: two BatchNorms added, drawn on the canvas
    tab.queue.setCurrentRow(1)
    QTest.mouseClick(tab.compare_button, Qt.MouseButton.LeftButton)
    dialog = panel.comparison
    lines = [dialog.diff_lines.item(i).text() for i in range(dialog.diff_lines.count())]
    assert sum("(batchnorm2d)" in line for line in lines) == 2
    marks = {nid: item.diff for nid, item in dialog.diff_scene.node_items.items() if item.diff}
    assert sorted(kind for kind, _ in marks.values()) == ["added", "added"]
    assert dialog.diff_scene.document.locked
    dialog.close()


def test_compare_ticked_runs_from_history_and_export_csv(qtbot, tmp_path):
    win = make_window(qtbot, TINY)
    panel = win.training
    for lr in ("0.01", "0.05"):
        panel.apply("lr", float(lr))
        win._start_training()
        wait_for(qtbot, lambda: not panel.controller.running)
    panel._load_history()
    history = panel.history
    assert history.count() == 2
    messages: list[str] = []
    panel.message.connect(messages.append)
    history.item(0).setCheckState(Qt.CheckState.Checked)
    QTest.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    assert "tick two runs" in messages[-1]
    history.item(1).setCheckState(Qt.CheckState.Checked)
    QTest.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    dialog = panel.comparison
    # the older run is the reference
    assert [dialog.groups.item(r, 0).text() for r in range(2)] == ["lr=0.01", "lr=0.05"]
    assert dialog.groups.item(0, 4).text() == "reference"
    # the training loss of every step, one line a run, against the step
    dialog.curve.setCurrentIndex(dialog.curve.findData("step_loss"))
    lines = dialog.curves.plotItem.listDataItems()
    assert len(lines) == 2 and dialog.curves.plotItem.getAxis("bottom").labelText == "step"
    xs, ys = lines[0].getData()
    steps = dialog.comparison.runs[0].steps
    assert list(xs) == [s for s, _ in steps] and len(xs) == 4
    assert list(ys) == pytest.approx(smoothed([loss for _, loss in steps]))
    dialog.curve.setCurrentIndex(dialog.curve.findData("val_acc"))
    assert dialog.curves.plotItem.getAxis("bottom").labelText == "epoch"
    path = dialog.export_csv(str(tmp_path / "c.csv"))
    assert path.read_text().startswith("run,group,outcome,lr")
    assert (tmp_path / "c_configurations.csv").exists()
    dialog.close()


def test_the_dialog_says_what_is_missing_and_repeats_the_settings_over_seeds(qtbot):
    import presets
    from app.ui.experiment_dialog import ExperimentDialog

    project = presets.get("lenet5").project()
    project.training = {**TINY, "seed": 5}
    dialog = ExperimentDialog(project)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and "write what to vary" in dialog.preview.text()
    dialog.seeds.setValue(3)
    assert ok.isEnabled()
    assert "3 point(s) × 1 seed(s) = 3 run(s)" in dialog.preview.text()
    QTest.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result_spec.params == ("seed=5,6,7",)
    assert dialog.result_title == "Repeat the current settings ×3"
    # a typo says which name is wrong, and the Insert list writes a valid line
    dialog = ExperimentDialog(project)
    qtbot.addWidget(dialog)
    QTest.keyClicks(dialog.params, "conv9.out_channels=4")
    dialog.update_preview()
    assert "no block 'conv9'" in dialog.preview.text()
    dialog.params.clear()
    dialog.insert.setCurrentIndex(dialog.insert.findText("conv2d_1.out_channels"))
    dialog.insert.activated.emit(dialog.insert.currentIndex())
    dialog.update_preview()
    assert dialog.params.toPlainText() == "conv2d_1.out_channels=3,6,12"
    assert "3 point(s)" in dialog.preview.text()


def test_the_queue_comes_back_after_the_window_closes_mid_run(qtbot):
    """Closing the window mid-sweep loses no plan: a new window (a new session) shows the
    queue with the trials so far, the interrupted sweep stopped and the one behind it
    queued, and Continue Queue runs the point the first had left."""
    from app.core.experiments.queue import queue_path

    win = make_window(qtbot, TINY)
    panel, tab = win.training, win.training.experiments
    _define(qtbot, win, lambda d: QTest.keyClicks(d.params, "lr=0.01,0.05"))
    _define(qtbot, win, lambda d: QTest.keyClicks(d.params, "batch_size=16"))
    assert queue_path().exists()
    # queued within the same second, they are still two sweeps (one name refused the second)
    assert tab.items[0].spec.name != tab.items[1].spec.name
    wait_for(qtbot, lambda: len(tab.items[0].trials) >= 1)
    win.close()
    wait_for(qtbot, lambda: not panel.controller.running)
    assert [i.state for i in tab.items] == ["stopped", "queued"]

    again = make_window(qtbot, TINY)
    tab = again.training.experiments
    wait_for(qtbot, lambda: len(tab.items) == 2, 5000)
    first, second = tab.items
    assert (first.state, second.state) == ("stopped", "queued"), [first.message, second.message]
    assert first.trials[0].point == {"lr": 0.01} and first.trials[0].state == "complete"
    assert "experiments are back (2, 2 to run)" in again.statusBar().currentMessage()
    done = sum(t.state == "complete" for t in first.trials.values())  # a stopped one runs again
    assert f"{done}/2 trials" in tab.queue.item(0).text()
    assert tab.run_button.text() == "Continue Queue" and tab.run_button.isEnabled()
    tab.queue.setCurrentRow(0)
    assert tab.table.rowCount() == len(first.trials)  # the trials so far are shown
    tab.queue.setCurrentRow(1)  # (the queue going on to the next is the first test's)
    QTest.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert tab.items == [first]
    QTest.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: first.state == "done", 120_000)
    complete = [t.point["lr"] for t in first.trials.values() if t.state == "complete"]
    assert sorted(complete) == [0.01, 0.05]
    wait_for(qtbot, lambda: not again.training.controller.running)
