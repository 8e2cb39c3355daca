"""Issue 14.1: the first F5 trains. Presets open with settings that fit them, and a dataset that
does not fit shows the fixes as one click each (real clicks on the buttons), never only an
error after Start."""

from __future__ import annotations

from PySide6.QtCore import Qt

import presets
from app.core.training.events import RunStarted
from tests.ui.helpers import open_window


def test_every_preset_opens_with_a_dataset_that_fits():
    from app.core.shapes import check
    from app.core.training.fit import dataset_problem

    for name in presets.names():
        project = presets.get(name).project()
        dataset = project.training.get("dataset", "shapes")
        assert dataset in ("shapes", "shapes_gray"), name
        assert dataset_problem(dataset, check(project.graph)) == "", name


def test_the_default_document_trains_on_first_f5(qtbot):
    """Launch → Training → F5 with nothing changed: the run starts and reports."""
    win = open_window(qtbot, active=True)
    panel = win.training
    assert not panel.fit_bar.isVisible()
    win.view.setFocus()  # as after a click on the canvas
    qtbot.keyClick(win.view, Qt.Key.Key_F5)
    assert panel.controller.running
    qtbot.waitUntil(
        lambda: panel.metrics is not None and panel.metrics.started is not None, timeout=60_000
    )
    assert isinstance(panel.metrics.started, RunStarted)
    assert panel.metrics.started.dataset.startswith("Shapes 28×28×1")
    panel.stop()
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=60_000)
    assert "Run failed" not in panel.status.text()


def test_a_dataset_that_does_not_fit_offers_both_fixes(qtbot):
    win = open_window(qtbot, active=True)
    panel, doc = win.training, win.document
    panel.apply("dataset", "shapes")  # LeNet takes 1×28×28: the RGB shapes do not fit
    assert panel.fit_bar.isVisible() and "1×28×28" in panel.fit_bar.label.text()
    assert "adapt the Input and classifier" in panel.fit_bar.label.text()
    assert panel.fit_bar.switch_button.text() == "Use shapes_gray"
    assert not panel.start() and not panel.controller.running  # refused before starting
    assert "Cannot start" in panel.status.text()
    qtbot.mouseClick(panel.fit_bar.switch_button, Qt.MouseButton.LeftButton)
    assert panel.config().dataset == "shapes_gray" and not panel.fit_bar.isVisible()
    doc.undo_stack.undo()
    assert panel.config().dataset == "shapes" and panel.fit_bar.isVisible()
    qtbot.mouseClick(panel.fit_bar.adapt_button, Qt.MouseButton.LeftButton)
    assert doc.graph.nodes["input_1"].params["channels"] == 3 and not panel.fit_bar.isVisible()
    assert doc.undo_stack.undoText() == "Adapt to shapes"
    doc.undo_stack.undo()  # one step undoes the whole adaptation
    assert doc.graph.nodes["input_1"].params["channels"] == 1 and panel.fit_bar.isVisible()


def test_adapt_sets_the_classifier_for_a_torchvision_dataset(qtbot):
    win = open_window(qtbot, active=True)
    win.open_preset("resnet18_cifar")
    panel, doc = win.training, win.document
    panel.apply("dataset", "cifar100")
    assert panel.fit_bar.isVisible() and "100 classes" in panel.fit_bar.label.text()
    assert panel.fit_bar.switch_button.text() == "Use shapes"  # the network fits the built-in
    qtbot.mouseClick(panel.fit_bar.adapt_button, Qt.MouseButton.LeftButton)
    assert doc.report.output_shape == (100,) and not panel.fit_bar.isVisible()
    said = win.statusBar().currentMessage()  # what changed, in the status line
    assert said.startswith("adapted to cifar100: ") and "set to 100" in said and "Undo" in said


def test_a_new_document_says_what_to_add_instead_of_an_adapt_that_does_nothing(qtbot):
    """File → New is an Input alone: F5 says what is missing, and offers no Adapt button
    (adapting could change nothing: no layer sets the number of class scores)."""
    win = open_window(qtbot, active=True)
    win.confirm_discard = lambda: True
    win.new_document()
    panel = win.training
    win.view.setFocus()
    qtbot.keyClick(win.view, Qt.Key.Key_F5)
    assert not panel.controller.running and "Cannot start" in panel.status.text()
    assert panel.fit_bar.isVisible() and not panel.fit_bar.adapt_button.isVisible()
    text = panel.fit_bar.label.text()
    assert "Give the network a classifier that outputs 10 class scores" in text
    win.open_preset("lenet5")
    panel.apply("dataset", "shapes")  # where adapting helps, it is still offered
    assert panel.fit_bar.isVisible() and panel.fit_bar.adapt_button.isVisible()
