"""Issue 19 in the window: Train → See Inside… draws each figure in its own process (the
window never imports torch), shows what the command printed, and a long one can be
cancelled."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.ui.helpers import open_window


def show(qtbot, dialog, view: str, node: str = "") -> str:
    dialog.show_view(view, node)
    assert dialog.run_button.isEnabled(), dialog.status.text()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=120_000)
    return dialog.status.text()


def test_see_inside_draws_the_figures_and_cancels(qtbot, tmp_path):
    from app.cli import main

    win = open_window(qtbot, active=True)
    dialog = win.see_inside()
    qtbot.addWidget(dialog)
    dialog.show_view("landscape")
    assert not dialog.run_button.isEnabled()  # no run yet
    assert "needs a trained run" in dialog.status.text()
    text = show(qtbot, dialog, "features", "conv2d_1")  # before training: the initialisation
    assert "initialised (no run)" in text and "conv2d_1 (conv2d): 6×28×28" in text
    text = show(qtbot, dialog, "signal")
    assert "he_normal       activations ×" in text
    assert not dialog.picture.pixmap().isNull() and dialog.picture.pixmap().width() > 600
    args = ["train", "presets:lenet5", "--train-size", "256", "--val-size", "64", "--epochs", "1"]
    assert main([*args, "--runs", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    win.training.last_run_dir = run
    text = show(qtbot, dialog, "features", "conv2d_2")
    assert "conv2d_2 (conv2d): 16×10×10" in text
    text = show(qtbot, dialog, "gradcam", "conv2d_2")
    assert "Grad-CAM at conv2d_2" in text and "peak inside the object's box" in text
    text = show(qtbot, dialog, "saliency")
    assert ": saliency" in text.splitlines()[0]
    dialog.extra.setText("--hflip --cutout 6")
    text = show(qtbot, dialog, "augment")
    assert text.startswith("step 0: 8 images; augmentation: hflip, cutout")
    dialog.extra.setText("")
    dialog.show_view("landscape")
    dialog.extra.setText("--steps 41 --images 256")  # 1,681 points: long enough to cancel
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.maximum() == 1681, timeout=60_000)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    assert "cancelled" in dialog.status.text() and dialog.run_button.isEnabled()


def test_the_results_tab_asks_where_the_run_s_network_looks(qtbot):
    from app.ui.see_inside import SeeInsideDialog

    win = open_window(qtbot, active=True)
    tab = win.training.results_tab
    assert not tab.look_button.isEnabled()  # no results yet
    tab.look_button.setEnabled(True)  # as when a run's results arrive
    qtbot.mouseClick(tab.look_button, Qt.MouseButton.LeftButton)
    (dialog,) = win.findChildren(SeeInsideDialog)
    assert dialog.view.currentData() == "gradcam" and dialog.isVisible()


def test_the_layers_tab_draws_each_layer_s_activation_histogram(qtbot):
    from app.core.training.events import HISTOGRAM_BINS, LayerStat
    from app.ui.training.layer_table import sparkline

    win = open_window(qtbot)
    table = win.training.layers
    relu_like = (0.0,) * 6 + (0.5, 0.0, 0.05, 0.2, 0.25, 0.0, 0.0)
    assert len(relu_like) == len(HISTOGRAM_BINS)
    table.show_stats([LayerStat("conv2d_1", 1.0, 2.0, 1e-3, relu_like)])
    assert table.item(0, 4).text() == sparkline(relu_like) == "      █ ▁▃▄  "
    assert "|x| < 0.001" in table.horizontalHeaderItem(4).toolTip()
    table.show_stats([LayerStat("conv2d_1", 1.0, 2.0, 1e-3)])  # the setting off
    assert table.item(0, 4).text() == ""
