"""Make the README screenshots offscreen: python scripts/screenshots.py [OUT_DIR [fine_tune]]."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

import presets
from app.core.serialization import Project
from app.ui.canvas_tools import InsideDialog
from app.ui.document import Document
from app.ui.main_window import MainWindow


def shot(window: MainWindow, path: Path) -> None:
    window.show()
    QApplication.processEvents()
    window.view.fit()
    QApplication.processEvents()
    window.grab().save(str(path))
    print(f"wrote {path}")


def wait(condition, timeout: float = 300.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the training screenshot run took too long")
        QApplication.processEvents()
        time.sleep(0.01)


def start_run(window: MainWindow, preset, settings: dict):
    """Open ``preset`` with these training settings and start a run; the training panel."""
    window.set_document(Document(Project(preset.build(), preset.title, settings)))
    window.docks["Training"].raise_()
    window.training.start()
    return window.training


def training_shots(window: MainWindow, out: Path) -> None:
    """A real run of LeNet-5 on the built-in data: one shot mid-run, one of the results."""
    import tempfile

    os.environ.setdefault("NETBUILDER_RUNS_DIR", tempfile.mkdtemp(prefix="netbuilder-shots-"))
    p = presets.get("lenet5")
    settings = {
        "dataset": "shapes_gray",
        "train_size": 6000,
        "val_size": 1000,
        "batch_size": 64,
        "epochs": 4,
        "report_every": 10,
        "schedule": "cosine",
        "warmup_epochs": 1,
    }
    panel = start_run(window, p, settings)
    wait(lambda: panel.metrics is not None and len(panel.metrics.epochs) >= 2)
    panel.redraw()
    shot(window, out / "training_live.png")
    wait(lambda: panel.results is not None and not panel.controller.running)
    panel.tabs.setCurrentIndex(4)
    shot(window, out / "training_results.png")
    window.document.undo_stack.setClean()


def nan_shot(window: MainWindow, out: Path) -> None:
    """The MLP preset at a learning rate of 100: the loss explodes and the run pauses."""
    p = presets.get("mlp")
    settings = {
        "dataset": "shapes_gray",
        "train_size": 2048,
        "val_size": 256,
        "batch_size": 64,
        "epochs": 2,
        "report_every": 2,
        "lr": 100.0,
    }
    panel = start_run(window, p, settings)
    wait(lambda: panel.metrics is not None and bool(panel.metrics.diverged))
    wait(lambda: panel.controller.paused)
    QApplication.processEvents()
    window.grab().save(str(out / "training_nan_paused.png"))  # the view stays on the layer
    print(f"wrote {out / 'training_nan_paused.png'}")
    panel.stop()
    wait(lambda: not panel.controller.running)
    window.document.undo_stack.setClean()


def fine_tune_shots(window: MainWindow, out: Path) -> None:
    """Train → Fine-tune… on a folder of drawn images, and the network it sets up (frozen
    blocks locked). The weights file is made here with random values under the name
    torchvision gives it, in a temporary torch hub cache: nothing is downloaded."""
    import tempfile

    import torch
    from PIL import Image, ImageDraw
    from torchvision import models

    from app.core.weight_sets import cache_folder, weight_set
    from app.ui.fine_tune_dialog import FineTuneDialog

    tmp = Path(tempfile.mkdtemp(prefix="netbuilder-shots-"))
    os.environ["TORCH_HOME"] = str(tmp / "torch")
    ws = weight_set("ResNet18_Weights.IMAGENET1K_V1")
    cache_folder().mkdir(parents=True)
    torch.save(models.resnet18().state_dict(), cache_folder() / ws.file)
    for name, colour in (("daisies", "#e8c020"), ("roses", "#c0203a"), ("tulips", "#d060a0")):
        (tmp / "flowers" / name).mkdir(parents=True)
        for i in range(6):
            img = Image.new("RGB", (160, 120), "#3a7a30")
            ImageDraw.Draw(img).ellipse((40 + 8 * i, 20, 110 + 8 * i, 90), fill=colour)
            img.save(tmp / "flowers" / name / f"{i}.jpg")
    p = presets.get("resnet18")
    window.set_document(Document(Project(p.build(), p.title)))
    dialog = FineTuneDialog(window.document.graph, 11_689_512, {}, window)
    dialog.folder.setText(str(tmp / "flowers"))
    dialog.train_parts.setValue(2)
    dialog.refresh()
    dialog.show()
    QApplication.processEvents()
    dialog.grab().save(str(out / "fine_tune_dialog.png"))
    print(f"wrote {out / 'fine_tune_dialog.png'}")
    dialog.accept()
    window.apply_fine_tune(dialog.preset, dialog.result_plan)
    window.docks["Training"].raise_()
    shot(window, out / "fine_tune_network.png")
    window.document.undo_stack.setClean()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    del app
    if sys.argv[2:] == ["fine_tune"]:  # only these (the others train for minutes)
        p = presets.get("lenet5")
        window = MainWindow(Document(Project(p.build(), p.title)))
        window.resize(1500, 950)
        fine_tune_shots(window, out)
        window.close()
        return
    p = presets.get("resnet18_cifar")
    window = MainWindow(Document(Project(p.build(), p.title)))
    window.resize(1500, 950)
    shot(window, out / "main_resnet.png")
    p = presets.get("lenet5")
    document = Document(Project(p.build(), p.title))
    window.set_document(document)
    document.set_params("conv2d_2", {"kernel_h": 16, "kernel_w": 16})  # too big for 14×14
    window.focus_node("conv2d_2")
    shot(window, out / "main_error.png")
    window.document.undo_stack.setClean()
    p = presets.get("resnet50_cifar")
    window.set_document(Document(Project(p.build(), p.title)))
    block = next(
        n for n, node in window.document.graph.nodes.items() if node.params.get("stride") == 2
    )
    inside = InsideDialog(window.document.graph, block, window)
    inside.show()
    QApplication.processEvents()
    inside.view.fit()
    inside.grab().save(str(out / "inside_block.png"))
    print(f"wrote {out / 'inside_block.png'}")
    inside.close()
    dark = QPalette(QColor("#2b2d31"))
    app = QApplication.instance()
    light = app.palette()
    app.setPalette(dark)
    p = presets.get("se_resnet18_cifar")
    window.set_document(Document(Project(p.build(), p.title)))
    shot(window, out / "main_dark.png")
    app.setPalette(light)
    training_shots(window, out)
    nan_shot(window, out)
    fine_tune_shots(window, out)
    from app.ui.presets_dialog import PresetsDialog

    dialog = PresetsDialog(window)
    dialog.select("googlenet_cifar")
    dialog.show()
    QApplication.processEvents()
    dialog.grab().save(str(out / "presets.png"))
    print(f"wrote {out / 'presets.png'}")
    window.close()


if __name__ == "__main__":
    main()
