"""Train → Fine-tune…: pick a pretrained network and weight set, a folder of your images and
how much to freeze; the dialog shows what it will do (Input, classifier, frozen parts,
preprocessing, settings) and does it as one step."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import presets
from app.core.graph import Graph
from app.core.training.fine_tune import FineTunePlan, parts, plan, scan_folder
from app.core.weight_sets import catalogue, for_model, is_cached

CURRENT = ""  # the network combo's value for "the open network"
PREVIEW_DELAY_MS = 120  # the preview follows typing this much later


def matching_model(graph: Graph, params: int) -> str | None:
    """The torchvision model whose weights have this network's parameter count (an
    imported or preset ImageNet network, unchanged), if one does."""
    return next((w.model for w in catalogue().values() if w.params == params), None)


class FineTuneDialog(QDialog):
    def __init__(self, graph: Graph, total_params: int, settings: dict, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune a pretrained network")
        self.current, self.settings = graph, settings
        self.result_plan: FineTunePlan | None = None
        self.network = QComboBox()
        here = matching_model(graph, total_params)
        if here:
            self.network.addItem(f"the open network ({here})", CURRENT)
        self._models: dict[str, str] = {CURRENT: here or ""}
        for p in (presets.get(n) for n in presets.names()):
            if p.torchvision and for_model(p.torchvision):
                self.network.addItem(f"{p.title} ({p.name})", p.name)
                self._models[p.name] = p.torchvision
        self.weights = QComboBox()
        self.weight_info = QLabel()
        self.weight_info.setWordWrap(True)
        self.folder = QLineEdit(placeholderText="a folder with one sub-folder per class")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(0, 0, 0, 0)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.folder_info = QLabel()
        self.folder_info.setWordWrap(True)
        self.train_parts = QSpinBox()
        self.train_parts.setRange(1, 99)
        self.train_parts.setToolTip(
            "How many parts, counted from the classifier back, train; the ones before are "
            "frozen (1: only the new classifier trains)."
        )
        self.backbone = QDoubleSpinBox()
        self.backbone.setRange(0.001, 1.0)
        self.backbone.setDecimals(3)
        self.backbone.setSingleStep(0.05)
        self.backbone.setValue(0.1)
        self.backbone.setPrefix("×")
        self.backbone.setToolTip("Learning-rate multiplier of the trainable parts before the head")
        self.parts_info = QLabel()
        self.parts_info.setWordWrap(True)
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setMinimumHeight(140)
        form = QFormLayout()
        form.addRow("Network", self.network)
        form.addRow("Weights", self.weights)
        form.addRow("", self.weight_info)
        holder = QWidget()
        holder.setLayout(folder_row)
        form.addRow("Images", holder)
        form.addRow("", self.folder_info)
        form.addRow("Train the last", self.train_parts)
        form.addRow("", self.parts_info)
        form.addRow("Backbone learning rate", self.backbone)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Set Up")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("What it will do:"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.network.currentIndexChanged.connect(self._network_changed)
        self.weights.currentIndexChanged.connect(self._timer.start)
        self.folder.textChanged.connect(self._timer.start)
        self.train_parts.valueChanged.connect(self._timer.start)
        self.backbone.valueChanged.connect(self._timer.start)
        index = self.network.findData("resnet18") if not here else 0
        self.network.setCurrentIndex(max(index, 0))
        self._network_changed()
        self.resize(640, 620)

    # ------------------------------------------------------------------ state
    def graph(self) -> Graph:
        key = self.network.currentData()
        return self.current if key == CURRENT else presets.get(key).build()

    def _network_changed(self) -> None:
        model = self._models.get(self.network.currentData(), "")
        self.weights.blockSignals(True)
        self.weights.clear()
        for ws in for_model(model):
            cached = " · in the cache" if is_cached(ws) else f" · {ws.size_mb:.0f} MB download"
            self.weights.addItem(f"{ws.name} — {ws.accuracy}{cached}", ws.name)
        self.weights.blockSignals(False)
        count = len(parts(self.graph()))
        self.train_parts.setMaximum(count)
        self.refresh()

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of your images", self.folder.text())
        if path:
            self.folder.setText(path)

    def refresh(self) -> None:
        """Recompute the plan and show it; Set Up is offered only for a usable folder."""
        from app.core.weight_sets import weight_set

        name = self.weights.currentData()
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if not name:
            self.weight_info.setText("no pretrained weights for this network")
            ok.setEnabled(False)
            return
        ws = weight_set(name)
        self.weight_info.setText(
            f"{ws.params:,} parameters · {ws.size_mb:.1f} MB · licence: {ws.licence}\n"
            f"preprocessing: {ws.preprocessing}"
        )
        scan = scan_folder(self.folder.text().strip())
        self.folder_info.setText(scan.summary)
        graph = self.graph()
        all_parts = parts(graph)
        n = self.train_parts.value()
        trained = all_parts[len(all_parts) - n :]
        frozen = all_parts[: len(all_parts) - n]
        self.parts_info.setText(
            f"of {len(all_parts)} parts: training {', '.join(p.name for p in trained)}"
            + (f"; frozen {frozen[0].name} … {frozen[-1].name}" if frozen else "")
        )
        self.backbone.setEnabled(n > 1)
        if scan.problem:
            self.result_plan = None
            self.preview.setPlainText(f"Images: {scan.problem}.")
            ok.setEnabled(False)
            return
        self.result_plan = plan(
            graph,
            weights=name,
            folder=self.folder.text().strip(),
            classes=len(scan.classes),
            train_parts=n,
            backbone_mult=self.backbone.value(),
            settings=self.settings if self.network.currentData() == CURRENT else {},
        )
        self.preview.setPlainText("\n".join(self.result_plan.changes))
        ok.setEnabled(True)

    def accept(self) -> None:
        self._timer.stop()
        self.refresh()  # the plan of what is shown now, not of a pending edit
        if self.result_plan is not None:
            super().accept()

    @property
    def preset(self) -> str:
        """The chosen preset's name ("" for the open network)."""
        return self.network.currentData()
