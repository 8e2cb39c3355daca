"""Read-only views of the current graph: the per-layer summary table and the exported code."""

from __future__ import annotations

import keyword
import re
import weakref

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QSyntaxHighlighter,
    QTextCharFormat,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.shapes import ShapeReport, counted
from app.ui.document import Document
from blocks import shape_text

COLUMNS = ("#", "name", "block", "output", "params", "MACs", "RF", "train mem")


class NumberItem(QTableWidgetItem):
    """Sorts by the number, shows it with thousands separators."""

    def __init__(self, value: int | None) -> None:
        super().__init__("" if value is None else f"{value:,}")
        self.value = -1 if value is None else value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", -1)


class LivePanel(QWidget):
    """A view of the document refreshed shortly after edits (debounced, so a burst of edits
    costs one refresh), and only while visible: a hidden tab catches up when it is shown."""

    DELAY_MS = 150

    def __init__(self) -> None:
        super().__init__()
        self.timer = QTimer(self, singleShot=True, interval=self.DELAY_MS)
        self.timer.timeout.connect(self._refresh_if_visible)
        self.stale = False

    def set_document(self, document: Document) -> None:
        """Show ``document``: rendered shortly after if on screen, else when next shown (the
        code of ResNet-152 took 30-60 ms, paid in the same turn as opening it)."""
        self.document = document
        document.changed.connect(self.schedule)
        document.training_changed.connect(self.schedule)  # the batch, optimizer, precision
        self.schedule()

    def on_screen(self) -> bool:
        """Shown and not behind another tab (a tabbed dock's hidden page stays 'visible')."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def schedule(self) -> None:
        self.stale = True
        if self.on_screen():
            self.timer.start()

    def _refresh_if_visible(self) -> None:
        if self.on_screen():
            self.refresh()

    def catch_up(self, visible: bool = True) -> None:
        """Refresh if edits came while hidden (connect to the dock's visibilityChanged)."""
        if visible and self.stale:
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.catch_up()

    def refresh(self) -> None:
        self.stale = False
        self.render()

    def render(self) -> None:
        raise NotImplementedError


def predicted_step(document: Document, device: str = "") -> float | None:
    """Seconds a training step of the document should take on ``device`` (default: the one
    its settings pick), from that device's cached calibration; None without one."""
    from app.core.cost import cached_calibration, memory_of, step_seconds
    from app.core.training.config import ConfigError, TrainConfig

    try:
        config = TrainConfig.from_dict(document.project.training)
    except ConfigError:
        config = TrainConfig()
    speed = cached_calibration(device.split(":")[0] or memory_of(config.device)[0])
    if speed is None:
        return None
    return step_seconds(document.graph, document.report, config.batch_size, speed,
                        config.optimizer, config.momentum, config.amsgrad)  # fmt: skip


FREE_MEMORY_S = 5.0  # seconds a document's reading of the device's free memory is used again
_free_memory: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _device_memory(document: Document, setting: str) -> tuple[str, int | None]:
    """:func:`app.core.cost.memory_of`, read again after a few seconds: the Summary and the
    status bar ask at different moments and must give the same largest batch."""
    import time

    from app.core.cost import memory_of

    hit = _free_memory.get(document)
    if hit is None or hit[1] != setting or time.monotonic() - hit[0] > FREE_MEMORY_S:
        hit = _free_memory[document] = (time.monotonic(), setting, memory_of(setting))
    return hit[2]


def document_cost(document: Document):
    """(the training step's cost at the project's batch, the largest batch that fits the
    device, the device, its free memory), or None while the graph has errors. The Summary
    and the status bar both ask after each edit: the graph keeps each node's cost rule
    (:func:`app.core.cost.profile`), so the second asking adds up the kept figures only."""
    from app.core.cost import profile
    from app.core.training.config import ConfigError, TrainConfig

    try:
        config = TrainConfig.from_dict(document.project.training)
    except ConfigError:
        config = TrainConfig()
    device, free = _device_memory(document, config.device)
    found = profile(
        document.graph, document.report, optimizer=config.optimizer, momentum=config.momentum,
        amsgrad=config.amsgrad, amp=config.amp, device=device,
    )  # fmt: skip
    if found is None:
        return None
    largest = found.largest_batch(free) if free is not None else None
    return found.at(config.batch_size), largest, device, free


class BytesItem(NumberItem):
    """Sorts by bytes, shows them as KiB/MiB/GiB."""

    def __init__(self, value: int | None) -> None:
        from app.core.cost import bytes_text

        super().__init__(value)
        self.setText("" if value is None else bytes_text(value))


class CostLabel(QLabel):
    """The status bar's pre-flight figure: the training step's peak memory at the project's
    batch, and whether it fits the device; follows edits and settings (debounced)."""

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.timer = QTimer(self, singleShot=True, interval=LivePanel.DELAY_MS)
        self.timer.timeout.connect(self.refresh)
        self.set_document(document)

    def set_document(self, document: Document) -> None:
        self.document = document
        document.changed.connect(self.timer.start)
        document.training_changed.connect(self.timer.start)
        self.timer.start()

    def refresh(self) -> None:
        from app.core.cost import bytes_text

        found = document_cost(self.document)
        if found is None:
            self.setText("")
            return
        cost, largest, device, free = found
        text = f"step ≈ {bytes_text(cost.peak)} at batch {cost.batch}"
        seconds = predicted_step(self.document)
        if seconds is not None:
            text += f", ≈ {seconds:.2g} s" if seconds >= 0.01 else ", < 10 ms"
        if largest is not None:
            text += (f" · {device} fits ≤ {largest:,}" if largest >= cost.batch
                     else f" · does NOT fit {device}: batch ≤ {largest:,}")  # fmt: skip
        self.setText(text)
        self.setStyleSheet("" if largest is None or largest >= cost.batch else "color: #b00020;")
        timing = (
            f"\ntime per step ≈ {seconds:.3g} s (from this device's measured speed)"
            if seconds is not None
            else "\ntime per step: measure this device once with "
            "'python main.py check FILE --calibrate'"
        )
        self.setToolTip(
            cost_lines(cost, largest, device, free)
            + timing
            + "\n(the Summary shows each block's share)"
        )


def cost_lines(cost, largest: int | None, device: str, free: int | None) -> str:
    from app.core.cost import bytes_text, cost_text

    text = cost_text(cost)
    if free is None:
        return text + f"\nfree memory of {device}: known once a run starts there"
    return text + f"\nlargest batch on {device} ({bytes_text(free)} free): {largest:,}"


class SummaryTable(LivePanel):
    """Name, block, output shape, parameters, MACs and receptive field per node, with totals;
    sortable by any column, updated shortly after every edit."""

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        # network order first (Qt's default indicator sorted by name, descending); a click
        # on '#' comes back to it
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.horizontalHeaderItem(0).setToolTip("Network order: click to return to it")
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.totals = QLabel()
        # one line, cut at the dock's edge (the whole text is its tooltip): a wrapped second
        # line took a table row from the Summary at 1600×1000
        self.totals.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addWidget(self.totals)
        self.set_document(document)

    def render(self) -> None:
        self.show_report(self.document.report)

    def show_report(self, report: ShapeReport) -> None:
        graph = self.document.graph
        found = document_cost(self.document)
        costs = found[0].nodes if found else {}
        self.table.setSortingEnabled(False)
        new_rows = self.table.rowCount() != len(report.order)
        self.table.setRowCount(len(report.order))
        names = graph.module_names()  # the module path where a node has one, as on the canvas
        for row, node_id in enumerate(report.order):
            info = report.nodes[node_id]
            block = graph.registry.get(graph.nodes[node_id].type_id)
            shape = shape_text(info.shape) if info.shape is not None else "—"
            name = QTableWidgetItem(names.get(node_id, node_id))
            if name.text() != node_id:
                name.setToolTip(f"block {node_id}, module {name.text()} in the exported model")
            cells = [
                NumberItem(row + 1),
                name,
                QTableWidgetItem(block.title),
                QTableWidgetItem(shape),
                NumberItem(info.params),
                NumberItem(info.macs),
                NumberItem(info.receptive_field),
                BytesItem(costs[node_id].total if node_id in costs else None),
            ]
            for col, cell in enumerate(cells):
                self.table.setItem(row, col, cell)
        self.table.setSortingEnabled(True)
        if new_rows:  # measuring every cell is the slow part: only when rows come or go
            self.table.resizeColumnsToContents()
        text = (
            f"Total: {report.total_params:,} parameters · {report.total_macs:,} MACs · "
            f"{counted(report.depth, 'layer')} · "
            f"{report.total_memory / 2**20:.2f} MiB activations/sample"
        )
        tip = ""
        if found is not None:
            from app.core.cost import bytes_text

            cost, largest, device, _ = found
            text += f" · training step at batch {cost.batch} ≈ {bytes_text(cost.peak)}"
            if largest is not None:
                text += f", {device} fits ≤ {largest:,}"
            tip = cost_lines(*found)
        self.totals.setText(text)
        self.totals.setToolTip(tip)


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, strings, comments and numbers in the code panel."""

    def __init__(self, document) -> None:
        super().__init__(document)

        def fmt(colour: str, bold: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            f.setForeground(QColor(colour))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            return f

        words = "|".join([*keyword.kwlist, "self", "super"])
        self.rules = [
            (re.compile(rf"\b({words})\b"), fmt("#7a3e9d", True)),
            (re.compile(r"\b[0-9]+(\.[0-9]+)?\b"), fmt("#b05a00")),
            (re.compile(r"\bnn\.[A-Za-z0-9_]+|\btorch\.[A-Za-z0-9_.]+"), fmt("#1f5fa8")),
            (re.compile(r"\"[^\"\n]*\"|'[^'\n]*'"), fmt("#2e7d32")),
            (re.compile(r"#[^\n]*"), fmt("#8a8a8a")),
        ]

    def highlightBlock(self, text: str) -> None:
        for pattern, style in self.rules:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), style)


class CodePanel(LivePanel):
    """The graph as exported PyTorch code, refreshed shortly after edits (debounced)."""

    DELAY_MS = 250

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.editor = QPlainTextEdit(readOnly=True)
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = PythonHighlighter(self.editor.document())
        copy = QPushButton("Copy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.editor.toPlainText()))
        bar = QHBoxLayout()
        self.status = QLabel()
        bar.addWidget(self.status, 1)
        bar.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.editor)
        self.set_document(document)

    def render(self) -> None:
        from app.core.export.model_code import ExportError, export_model_code

        try:
            code = export_model_code(
                self.document.graph, self.document.project.name or "Net", self.document.report
            )
        except ExportError as exc:
            self.status.setText(f"Fix the errors to see the code: {exc}")
            return
        self.status.setText("PyTorch code of this network (imports only torch)")
        scroll = self.editor.verticalScrollBar().value()
        self.editor.setPlainText(code)
        self.editor.verticalScrollBar().setValue(scroll)
