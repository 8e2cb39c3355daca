"""Issue 18 in the window: freezing from the Inspector and the canvas (lock marks, undo), and
the Fine-tune dialog on an image folder written here, through to a run that starts from the
pretrained weights (a locally made file in the torch hub cache: nothing is downloaded)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from app.core.graph import Learning
from tests.ui.helpers import open_window


def test_the_inspector_freezes_a_block_and_the_canvas_marks_it(qtbot):
    win = open_window(qtbot, active=True)
    doc, scene = win.document, win.scene
    item = scene.node_items["conv2d_2"]
    scene.clearSelection()
    item.setSelected(True)
    inspector = win.inspector
    assert inspector.node_id == "conv2d_2" and inspector.trainable is not None
    assert inspector.trainable.isChecked()
    box = inspector.trainable
    qtbot.waitUntil(box.isVisible)
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert doc.graph.frozen() == {"conv2d_2"}
    assert "frozen: its weights do not train" in item.tooltip_text()
    assert item.state[-1] == Learning(trainable=False)  # the canvas redrew the block
    assert not inspector.lr_mult.isEnabled()
    doc.undo_stack.undo()
    assert doc.graph.frozen() == set() and inspector.trainable.isChecked()
    inspector.lr_mult.setValue(0.25)
    inspector.lr_mult.editingFinished.emit()
    assert doc.graph.node("conv2d_2").learning == Learning(True, 0.25)
    assert "learning rate ×0.25" in item.tooltip_text()
    relu = scene.node_items["tanh_1"]  # no weights: nothing to freeze
    scene.clearSelection()
    relu.setSelected(True)
    assert inspector.trainable is None


def test_freeze_up_to_here_and_unfreeze_all_are_one_step_each(qtbot):
    win = open_window(qtbot, active=True)
    doc = win.document
    win.freeze_up_to("conv2d_2")
    assert doc.graph.frozen() >= {"conv2d_1", "conv2d_2"} and "linear_1" not in doc.graph.frozen()
    assert "parameters frozen" in win.statusBar().currentMessage()
    win.unfreeze_all()
    assert doc.graph.frozen() == set()
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.graph.frozen() == set()


def test_the_fine_tune_dialog_sets_up_a_folder_and_the_run_starts(qtbot, tmp_path, monkeypatch):
    import torch
    from PIL import Image
    from torchvision import models

    from app.core.training.events import RunStarted
    from app.core.weight_sets import cache_folder, weight_set
    from app.ui.fine_tune_dialog import FineTuneDialog

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ws = weight_set("SqueezeNet1_1_Weights.IMAGENET1K_V1")
    cache_folder().mkdir(parents=True)
    torch.save(models.squeezenet1_1().state_dict(), cache_folder() / ws.file)
    for i, (cls, colour) in enumerate([("cats", (200, 80, 40)), ("dogs", (40, 80, 200))] * 4):
        (tmp_path / "pets" / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (96, 80), colour).save(tmp_path / "pets" / cls / f"{i}.png")
    win = open_window(qtbot, active=True)
    dialog = FineTuneDialog(win.document.graph, 61_706, {}, win)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.network.setCurrentIndex(dialog.network.findData("squeezenet1_1"))
    assert dialog.weights.currentData() == ws.name
    assert "in the cache" in dialog.weights.currentText()
    ok = dialog.buttons.buttons()[0]
    assert not ok.isEnabled()  # no folder yet
    qtbot.keyClicks(dialog.folder, str(tmp_path / "pets"))
    dialog.refresh()
    assert "2 classes (cats, dogs), 8 images" in dialog.folder_info.text()
    text = dialog.preview.toPlainText()
    assert "classifier.1: out_channels set to 2" in text
    assert "training classifier.1" in text and ws.name in text
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted
    win.apply_fine_tune(dialog.preset, dialog.result_plan)
    doc = win.document
    assert doc.project.name == "SqueezeNet 1.1 (fine-tuned)" and doc.modified
    assert doc.report.output_shape == (2,) and len(doc.graph.frozen()) > 10
    config = win.training.config()
    assert config.pretrained == ws.name and config.dataset == "image_folder"
    win.training.apply("workers", 0)
    win.view.setFocus()
    qtbot.keyClick(win.view, Qt.Key.Key_F5)
    panel = win.training
    qtbot.waitUntil(
        lambda: panel.metrics is not None and panel.metrics.started is not None, timeout=120_000
    )
    started = panel.metrics.started
    assert isinstance(started, RunStarted) and started.mean == ws.mean
    assert any("re-initialised: classifier.1" in n for n in started.notes), started.notes
    assert any("parameters frozen" in n for n in started.notes)
    panel.stop()
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=120_000)
    assert "Run failed" not in panel.status.text()


def test_images_dropped_on_the_results_tab_show_the_run_s_top_classes(qtbot, tmp_path):
    from PIL import Image
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    import presets
    from app.core.training.config import TrainConfig
    from app.core.training.engine import Trainer
    from app.core.training.events import RunStarted
    from app.core.training.portable.shapes import CLASSES
    from tests.helpers import SMALL_TRAINING

    trainer = Trainer(
        presets.get("lenet5").build(),
        TrainConfig.from_dict(SMALL_TRAINING),
        runs_root=tmp_path / "runs",
    )
    started = next(e for e in list(trainer.run()) if isinstance(e, RunStarted))
    images = []
    for i in range(2):
        path = tmp_path / f"drawing{i}.png"
        Image.fromarray(trainer.p.data.val.images[i, 0].numpy(), mode="L").save(path)
        images.append(path)
    win = open_window(qtbot, active=True)
    tab = win.training.results_tab
    tab.source = lambda: ("{}", None)
    tab.classify([str(images[0])])
    assert "no trained run yet" in win.statusBar().currentMessage()
    tab.source = lambda: ("{}", started.run_dir)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in images])
    drop = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    tab.dropEvent(drop)
    messages = []
    win.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: len(tab._shown) == 2 or "cannot" in str(messages), timeout=60_000)
    assert len(tab._shown) == 2, messages
    picture, text = tab._shown[-1]  # the first dropped (the newest is on top)
    assert not picture.pixmap().isNull()
    shown = text.text()
    assert "drawing0.png" in shown and shown.count("%") == 5
    assert sum(name in shown for name in CLASSES) >= 5
    assert not tab.predictions.isHidden()
    assert "classified 2 image(s)" in win.statusBar().currentMessage()
    tab.source = lambda: ("{}", started.run_dir)
    tab.classify([str(tmp_path / "missing.png")])
    qtbot.waitUntil(lambda: "cannot classify" in win.statusBar().currentMessage(), timeout=60_000)
    assert "missing.png: no such image file" in win.statusBar().currentMessage()
