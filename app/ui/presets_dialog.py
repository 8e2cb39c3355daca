"""The presets browser: every built-in and user preset with its description, input,
parameters, MACs and a small picture of its graph."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
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
    # readable, not whole: a tall network shows its first blocks (it was a 4 px smear)
    scale = min(1.0, max(min(width / source.width(), height / source.height()), 0.45))
    if source.height() * scale > height:
        source.setHeight(height / scale)
    if source.width() * scale > width:
        extra = source.width() - width / scale
        source.adjust(extra / 2, 0, -extra / 2, 0)
    w, h = source.width() * scale, source.height() * scale
    target = QRectF((width - w) / 2, (height - h) / 2, w, h)  # centred
    scene.render(painter, target, source, Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    document.detach()
    return pixmap


PICTURE_DELAY_MS = 30  # the preview follows the selection this much later


class PresetsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Presets")
        self.resize(900, 560)
        self.search = QLineEdit(placeholderText="Search presets (name, paper, tag)…")
        self.search.textChanged.connect(self.filter)
        self.list = QListWidget()
        self.details = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(260, 360)
        self._pending_picture: Project | None = None
        found, problems = presets.all_presets()
        self.presets = {p.name: p for p in found}
        for group, members in _groups(found):
            header = QListWidgetItem(group)
            header.setFlags(Qt.ItemFlag.NoItemFlags)  # a heading: not selectable
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            self.list.addItem(header)
            for p in members:
                item = QListWidgetItem(f"  {p.title}   ({p.input})")
                item.setData(Qt.ItemDataRole.UserRole, p.name)
                item.setToolTip(", ".join(p.tags))
                self.list.addItem(item)
        # as wide as the longest name: they were cut ("Pre-activation ResNet-18 (CIFAR) (3×3")
        self.list.setMinimumWidth(self.list.sizeHintForColumn(0) + 24)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        right = QVBoxLayout()
        right.addWidget(self.details, 1)
        if problems:
            right.addWidget(QLabel("Skipped: " + "; ".join(problems), wordWrap=True))
        left = QVBoxLayout()
        left.addWidget(self.search)
        left.addWidget(self.list, 1)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addLayout(right, 3)
        body.addWidget(self.picture, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(buttons)
        self.list.currentItemChanged.connect(self._show)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        if found:
            self.select(found[0].name)

    @property
    def selected(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def select(self, name: str) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    def filter(self, text: str) -> None:
        """Show the presets whose name, title, description or tags contain ``text`` (and
        the headings of their groups)."""
        text = text.strip().lower()
        header = None
        shown_in_group = 0
        for row in range(self.list.count()):
            item = self.list.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            if name is None:  # a heading: shown when one of its presets is
                if header is not None:
                    header.setHidden(shown_in_group == 0)
                header, shown_in_group = item, 0
                continue
            p = self.presets[name]
            hit = (
                not text or text in f"{p.name} {p.title} {p.description} {' '.join(p.tags)}".lower()
            )
            item.setHidden(not hit)
            shown_in_group += hit
        if header is not None:
            header.setHidden(shown_in_group == 0)
        current = self.list.currentItem()
        if current is None or current.isHidden():
            visible = [
                self.list.item(r)
                for r in range(self.list.count())
                if not self.list.item(r).isHidden()
                and self.list.item(r).data(Qt.ItemDataRole.UserRole)
            ]
            if visible:
                self.list.setCurrentItem(visible[0])

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None or item.data(Qt.ItemDataRole.UserRole) is None:
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
        # drawn a turn later (a throw-away scene, 20-40 ms): the list answers the keys at
        # once, and arrowing through it draws only the preset it stops on
        self._pending_picture = Project(graph, p.title)
        QTimer.singleShot(PICTURE_DELAY_MS, self, self._draw_picture)

    def _draw_picture(self) -> None:
        project, self._pending_picture = self._pending_picture, None
        if project is not None:
            self.picture.setPixmap(graph_picture(project))


def _groups(found: list) -> list[tuple[str, list]]:
    """Presets by family: the course and CIFAR-size ones, torchvision's, the user's."""
    groups: dict[str, list] = {
        "Course and CIFAR": [],
        "ImageNet (torchvision architectures)": [],
        "Your presets": [],
    }
    for p in found:
        if "user" in p.tags:
            groups["Your presets"].append(p)
        elif p.torchvision:
            groups["ImageNet (torchvision architectures)"].append(p)
        else:
            groups["Course and CIFAR"].append(p)
    return [(name, members) for name, members in groups.items() if members]
