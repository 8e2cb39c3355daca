"""The presets browser: every built-in and user preset with its description, input,
parameters, MACs and a small picture of its graph."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

import presets
from app.core.serialization import Project
from app.core.shapes import check
from app.ui.canvas import GraphScene
from app.ui.document import Document


def graph_picture(project: Project, width: int = 260, height: int = 360) -> QPixmap:
    """Render a graph into a pixmap (a throw-away scene on a throw-away document)."""
    document = Document(project)
    scene = GraphScene(document)
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor("#eef0f4"))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    source = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
    scale = min(width / source.width(), height / source.height())
    w, h = source.width() * scale, source.height() * scale
    target = QRectF((width - w) / 2, (height - h) / 2, w, h)  # centred
    scene.render(painter, target, source, Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    document.detach()
    return pixmap


class PresetsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Presets")
        self.resize(900, 560)
        self.list = QListWidget()
        self.details = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(260, 360)
        found, problems = presets.all_presets()
        self.presets = {p.name: p for p in found}
        for p in found:
            item = QListWidgetItem(f"{p.title}   ({p.input})")
            item.setData(Qt.ItemDataRole.UserRole, p.name)
            item.setToolTip(", ".join(p.tags))
            self.list.addItem(item)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        right = QVBoxLayout()
        right.addWidget(self.details, 1)
        if problems:
            right.addWidget(QLabel("Skipped: " + "; ".join(problems), wordWrap=True))
        body = QHBoxLayout()
        body.addWidget(self.list, 2)
        body.addLayout(right, 3)
        body.addWidget(self.picture, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
        self.list.currentItemChanged.connect(self._show)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.list.setCurrentRow(0)

    @property
    def selected(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        p = self.presets[item.data(Qt.ItemDataRole.UserRole)]
        graph = p.build()
        report = check(graph)
        self.details.setText(
            f"<h3>{p.title}</h3><p>{p.description}</p>"
            f"<p><b>Input</b> {p.input} · <b>Parameters</b> {report.total_params:,} · "
            f"<b>MACs</b> {report.total_macs / 1e6:,.1f} M · <b>Layers</b> {report.depth} · "
            f"<b>Blocks</b> {len(graph)}</p><p><i>{', '.join(p.tags)}</i></p>"
        )
        self.picture.setPixmap(graph_picture(Project(graph, p.title)))
