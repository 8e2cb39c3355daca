"""After a run: the confusion matrix as a picture, per-class accuracy, and a grid of validation
images with predicted and true labels (mistakes first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap

if TYPE_CHECKING:
    from app.core.training.results import RunResults
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def _heat(value: float) -> QColor:
    """White → blue as ``value`` goes 0 → 1."""
    v = max(0.0, min(1.0, value))
    return QColor(int(255 - 200 * v), int(255 - 150 * v), int(255 - 40 * v))


def _ink(background: QColor) -> QColor:
    """Text colour readable on ``background``."""
    return QColor("#ffffff" if background.lightness() < 150 else "#222222")


def confusion_pixmap(results: RunResults, cell: int = 30) -> QPixmap:
    """Rows: true class, columns: predicted; colour = share of the row, text = count."""
    k = len(results.classes)
    label_w = 90
    size = (label_w + k * cell + 10, label_w + k * cell + 10)
    pix = QPixmap(*size)
    pix.fill(QColor("white"))
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    small = QFont(p.font().family(), 7)
    p.setFont(small)
    for t, row in enumerate(results.confusion):
        total = sum(row) or 1
        for q, count in enumerate(row):
            rect = QRectF(label_w + q * cell, label_w + t * cell, cell, cell)
            p.fillRect(rect, _heat(count / total))
            p.setPen(QPen(_ink(_heat(count / total))))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
            if t == q:
                p.setPen(QPen(QColor("#2ca02c"), 1.5))
                p.drawRect(rect.adjusted(1, 1, -1, -1))
    p.setPen(QColor("#222222"))
    for i, name in enumerate(results.classes):
        short = name[:12]
        p.drawText(
            QRectF(0, label_w + i * cell, label_w - 4, cell),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            short,
        )
        p.save()
        p.translate(label_w + i * cell + cell / 2 + 4, label_w - 4)
        p.rotate(-90)
        p.drawText(0, 0, short)
        p.restore()
    p.drawText(QRectF(0, 0, label_w, 14), "true ↓ / predicted →")
    p.end()
    return pix


def sample_grid(results: RunResults, columns: int = 8, size: int = 64) -> QPixmap:
    """Validation images upscaled, each with 'predicted confidence% (true)'; mistakes framed
    in red."""
    n = len(results.truth)
    rows = max(1, -(-n // columns))
    caption = 24  # two lines: predicted, (true)
    pix = QPixmap(columns * (size + 6), rows * (size + caption + 8))
    pix.fill(QColor("white"))
    p = QPainter(pix)
    p.setFont(QFont(p.font().family(), 7))
    metrics = p.fontMetrics()
    for i in range(n):
        r, c = divmod(i, columns)
        x, y = c * (size + 6) + 3, r * (size + caption + 8) + 3
        image = _qimage(results.images[i])
        p.drawImage(QRectF(x, y, size, size), image)
        wrong = results.truth[i] != results.predicted[i]
        p.setPen(QPen(QColor("#d62728" if wrong else "#2ca02c"), 2))
        p.drawRect(QRectF(x, y, size, size))
        percent = f" {results.confidence[i]:.0%}"  # the softmax of the predicted class
        room = size + 4 - metrics.horizontalAdvance(percent)
        pred = results.classes[results.predicted[i]]
        pred = metrics.elidedText(pred, Qt.TextElideMode.ElideRight, room) + percent
        text = pred if not wrong else f"{pred}\n({results.classes[results.truth[i]]})"
        p.setPen(QColor("#d62728" if wrong else "#222222"))
        p.drawText(
            QRectF(x - 2, y + size + 1, size + 4, caption),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            text,
        )
    p.end()
    return pix


def _qimage(chw) -> QImage:
    """A C×H×W uint8 numpy array as a QImage (grey or RGB)."""
    import numpy as np

    img = np.ascontiguousarray(chw.transpose(1, 2, 0) if chw.shape[0] in (1, 3) else chw)
    h, w = img.shape[:2]
    if img.shape[2] == 1:
        data = np.ascontiguousarray(img[:, :, 0])
        return QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    data = np.ascontiguousarray(img[:, :, :3])
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ResultsView(QWidget):
    """The three views of a finished run's results."""

    def __init__(self) -> None:
        super().__init__()
        self.summary = QLabel("Results appear here when a run ends.")
        self.summary.setWordWrap(True)
        self.matrix = QLabel()
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["class", "accuracy", "images"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.samples = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.matrix)
        top.addWidget(self.table, 1)
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addLayout(top)
        caption = "Validation samples, mistakes first: predicted, probability (true)"
        column.addWidget(QLabel(caption))
        column.addWidget(self.samples)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # above the scrolling part: it wraps at the dock's width (inside, it took the width of
        # the confusion matrix and ran off the right edge at 1000×700)
        layout.addWidget(self.summary)
        layout.addWidget(scroll)
        self.results: RunResults | None = None

    def clear(self) -> None:
        """Nothing to show (another document, or a new run)."""
        self.results = None
        self.summary.setText("Results appear here when a run ends.")
        self.matrix.clear()
        self.samples.clear()
        self.table.setRowCount(0)

    def show_results(self, results: RunResults) -> None:
        self.results = results
        wrong = sum(t != p for t, p in zip(results.truth, results.predicted, strict=True))
        total = sum(map(sum, results.confusion))
        weights = "the best checkpoint" if results.checkpoint.endswith(".pt") else "final weights"
        self.summary.setText(
            f"<b>Validation accuracy {results.accuracy:.2%}</b> on {total:,} images with "
            f"{weights} · {wrong} of the {len(results.truth)} samples shown are mistakes."
        )
        self.matrix.setPixmap(confusion_pixmap(results))
        per_class = results.per_class_accuracy
        self.table.setRowCount(len(results.classes))
        for i, name in enumerate(results.classes):
            cells = [name, f"{per_class[i]:.1%}", str(sum(results.confusion[i]))]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 1:  # its own text colour: the palette's may be light (dark mode)
                    heat = _heat(per_class[i])
                    item.setBackground(heat)
                    item.setForeground(_ink(heat))
                self.table.setItem(i, col, item)
        self.table.resizeColumnsToContents()
        # wide enough for its columns: in a narrow dock the whole view scrolls sideways
        # rather than the table cutting off its last column
        columns = sum(self.table.columnWidth(c) for c in range(self.table.columnCount()))
        scrollbar = self.table.verticalScrollBar().sizeHint().width()
        self.table.setMinimumWidth(columns + scrollbar + 2 * self.table.frameWidth())
        self.samples.setPixmap(sample_grid(results))
