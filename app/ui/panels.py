"""Side panels: block palette, inspector (a form generated from the param specs) and the
problems list."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDrag, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import GraphError, InvalidParamError
from app.core.graph import LR_MULT_MAX, Learning
from app.core.shapes import ShapeReport, counted
from app.ui.canvas import category_colour
from app.ui.document import Document
from app.ui.param_form import make_editor, pass_undo_keys, set_editor_value
from blocks import REGISTRY

BLOCK_MIME = "application/x-netbuilder-block"


def _swatch(colour: QColor) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(colour)
    return QIcon(pix)


class PaletteTree(QTreeWidget):
    def startDrag(self, actions) -> None:
        item = self.currentItem()
        type_id = item.data(0, Qt.ItemDataRole.UserRole) if item else None
        if not type_id:
            return
        mime = QMimeData()
        mime.setData(BLOCK_MIME, type_id.encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)


class Palette(QWidget):
    """Blocks grouped by category, filtered by the search box; double-click or drag to add."""

    add_requested = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.search = QLineEdit(placeholderText="Search blocks…")
        self.tree = PaletteTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        for category, all_blocks in REGISTRY.categories().items():
            blocks = [b for b in all_blocks if b.palette]
            if not blocks:
                continue
            group = QTreeWidgetItem(self.tree, [category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for block in blocks:
                item = QTreeWidgetItem(group, [block.title])
                item.setData(0, Qt.ItemDataRole.UserRole, block.type_id)
                item.setToolTip(0, block.help)
                item.setIcon(0, _swatch(category_colour(category)))
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)
        self.tree.itemDoubleClicked.connect(self._double_clicked)

    def filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                child = group.child(j)
                type_id = child.data(0, Qt.ItemDataRole.UserRole)
                block = REGISTRY.get(type_id)
                hit = not text or text in f"{block.title} {type_id} {block.help}".lower()
                child.setHidden(not hit)
                visible += hit
            group.setHidden(visible == 0)

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        type_id = item.data(0, Qt.ItemDataRole.UserRole)
        if type_id:
            self.add_requested.emit(type_id)


class Inspector(QWidget):
    """Edits the selected node's params; each change is one undoable command. Editors refuse
    out-of-range values (their ranges come from the specs)."""

    message = Signal(str)

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.document = document
        self.node_id: str | None = None
        self.editors: dict[str, QWidget] = {}
        self.trainable: QCheckBox | None = None  # shown for a block with weights
        self.lr_mult: QDoubleSpinBox | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("Select a block to edit it.")
        self.title.setWordWrap(True)
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: palette(mid);")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self._layout.addWidget(self.title)
        self._layout.addWidget(self.help)
        self._layout.addWidget(self.form_host)
        self._layout.addStretch(1)

    def set_document(self, document: Document) -> None:
        self.document = document
        document.changed.connect(self.refresh)
        self.show_node(None)

    def show_node(self, node_id: str | None) -> None:
        self.node_id = node_id
        self.trainable: QCheckBox | None = None
        self.lr_mult: QDoubleSpinBox | None = None
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        if node_id is None or node_id not in self.document.graph:
            self.node_id = None
            self.title.setText("Select a block to edit it.")
            self.help.setText("")
            return
        node = self.document.graph.node(node_id)
        block = self.document.graph.registry.get(node.type_id)
        self.title.setText(f"<b>{block.title}</b> · {node_id}")
        self.help.setText(block.help)
        active = block.active_params(node.params)
        for spec in block.params:
            if spec.name not in active:  # e.g. an image Input has no depth or features
                continue
            editor = make_editor(spec, node.params[spec.name], self.apply)
            self.editors[spec.name] = editor
            self.form.addRow(spec.name.replace("_", " "), editor)
        info = self.document.report.nodes.get(node_id)
        if info is not None and info.params:  # a layer with weights: how they train
            self.trainable = QCheckBox("weights train")
            self.trainable.setToolTip(
                "Unchecked: the block is frozen (fine-tuning). Its weights keep their values, "
                "the optimizer never sees them, and its BatchNorm keeps its statistics."
            )
            self.trainable.toggled.connect(self._apply_trainable)
            self.lr_mult = QDoubleSpinBox()
            self.lr_mult.setRange(0.001, LR_MULT_MAX)
            self.lr_mult.setDecimals(3)
            self.lr_mult.setSingleStep(0.1)
            self.lr_mult.setPrefix("×")
            self.lr_mult.setToolTip(
                "Learning-rate multiplier of this block's weights: its rate is the schedule's "
                "times this (a pretrained backbone often trains at ×0.1)."
            )
            self.lr_mult.editingFinished.connect(self._apply_lr_mult)
            pass_undo_keys(self.lr_mult)
            self.form.addRow("trainable", self.trainable)
            self.form.addRow("learning rate", self.lr_mult)
            self._show_learning(node.learning)

    def refresh(self) -> None:
        """Follow undo/redo: show the model's current values."""
        if self.node_id is None or self.node_id not in self.document.graph:
            self.show_node(None)
            return
        node = self.document.graph.node(self.node_id)
        active = self.document.graph.registry.get(node.type_id).active_params(node.params)
        if set(active) != set(self.editors):  # another layout: other fields, built after the
            # editor whose signal got us here has returned (it is one of those replaced)
            QTimer.singleShot(0, self, lambda: self.show_node(self.node_id))
            return
        for name, editor in self.editors.items():
            set_editor_value(editor, node.params[name])
        self._show_learning(node.learning)

    def _show_learning(self, learning: Learning) -> None:
        if self.trainable is None or self.lr_mult is None:
            return
        for editor in (self.trainable, self.lr_mult):
            editor.blockSignals(True)
        self.trainable.setChecked(learning.trainable)
        self.lr_mult.setValue(learning.lr_mult)
        self.lr_mult.setEnabled(learning.trainable)
        for editor in (self.trainable, self.lr_mult):
            editor.blockSignals(False)

    def _apply_trainable(self, checked: bool) -> None:
        if self.node_id is not None:
            old = self.document.graph.node(self.node_id).learning
            self._set_learning(Learning(checked, old.lr_mult))

    def _apply_lr_mult(self) -> None:
        if self.node_id is not None and self.lr_mult is not None:
            old = self.document.graph.node(self.node_id).learning
            self._set_learning(Learning(old.trainable, round(self.lr_mult.value(), 3)))

    def _set_learning(self, learning: Learning) -> None:
        assert self.node_id is not None
        try:
            self.document.set_learning({self.node_id: learning})
        except GraphError as exc:
            self.message.emit(f"refused: {exc}")
            self.refresh()

    def apply(self, name: str, value: Any) -> None:
        if self.node_id is None:
            return
        node = self.document.graph.node(self.node_id)
        if node.params.get(name) == value:
            return
        try:
            self.document.set_params(self.node_id, {name: value})
        except (InvalidParamError, GraphError) as exc:
            self.message.emit(f"refused: {exc}")
            self.refresh()


class ProblemsPanel(QListWidget):
    """Errors and design lints; clicking one selects and centres its node."""

    node_activated = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.itemClicked.connect(self._clicked)

    def show_report(self, report: ShapeReport) -> None:
        self.clear()
        for problem in report.problems:
            icon = self.style().standardIcon(
                QStyle.StandardPixmap.SP_MessageBoxCritical
                if problem.severity == "error"
                else QStyle.StandardPixmap.SP_MessageBoxWarning
            )
            item = QListWidgetItem(icon, problem.message)
            item.setData(Qt.ItemDataRole.UserRole, problem.node_id)
            item.setForeground(
                QColor("#b3261e") if problem.severity == "error" else QColor("#8a5a00")
            )
            item.setToolTip(problem.message)
            self.addItem(item)
        if not report.problems:
            ok = QListWidgetItem(
                self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton),
                f"No problems · {report.total_params:,} parameters · "
                f"{counted(report.depth, 'layer')}",
            )
            ok.setForeground(QColor("#22663a"))
            self.addItem(ok)

    def _clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        if node_id:
            self.node_activated.emit(node_id)
