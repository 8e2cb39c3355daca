"""The Experiments tab: a queue of experiments (sweeps, course experiments, repeats), run one
after another in the training process, and a table of the current one's trials filling in as
they finish (mean ± 95% interval over the seeds). Stop stops the queue after the current
run; Run Queue goes on (a stopped sweep continues with the points it has left)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.experiments.queue import QueueItem, load_queue, save_queue
from app.core.experiments.runs import METRICS
from app.core.experiments.stats import Interval
from app.core.experiments.sweep import (
    SweepFinished,
    SweepStarted,
    TrialFinished,
    TrialStarted,
)
from app.core.training.events import RunFailed

_MARK = {"queued": "◦", "running": "▶", "stopped": "❚❚", "done": "✓", "failed": "✗"}
COLUMNS = ("trial", "point", "seeds", "metric", "state")


def item_text(item: QueueItem) -> str:
    """The queue's line for an experiment: its state, title, seeds and progress."""
    done = sum(t.state != "stopped" for t in item.trials.values())  # a stopped one runs again
    count = f"{done}/{item.total} trials" if item.total else "not started"
    seeds = f" × {item.spec.seeds} seeds" if item.spec.seeds > 1 else ""
    tail = f" — {item.message}" if item.message else ""
    return f"{_MARK[item.state]}  {item.title}{seeds} · {count}{tail}"


class _QueueList(QListWidget):
    """Four rows tall by default: the trial table below gets the rest (at 1000×700 the
    default list height left the table one row)."""

    def sizeHint(self) -> QSize:
        return QSize(200, 4 * self.fontMetrics().lineSpacing() + 12)


class ExperimentsTab(QWidget):
    message = Signal(str)
    new_requested = Signal()
    compare_requested = Signal(list)  # run folders

    def __init__(self, start_job, is_busy, path: Path | None = None) -> None:
        """``start_job(item) -> bool`` starts an item in the training process;
        ``is_busy()`` says whether a run is training now; ``path``: where the queue is kept
        between sessions (:mod:`app.core.experiments.queue`; None: not kept)."""
        super().__init__()
        self._start_job, self._is_busy, self.path = start_job, is_busy, path
        self._restored = False  # nothing is saved before the last session's queue is read
        self.items: list[QueueItem] = []
        self.current: QueueItem | None = None
        self.active = False  # the queue goes on to the next item when one finishes
        self.queue = _QueueList()
        self.queue.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue.currentRowChanged.connect(self._show_item)
        self.new_button = QPushButton("New Experiment…")
        self.new_button.setToolTip("Sweep settings or block parameters, or run a course experiment")
        self.run_button = QPushButton("Run Queue")
        # small arrow buttons: five text buttons in a row widened the Training dock past
        # what a 1000×700 window can give it (the canvas was left 275 px)
        self.up_button = QToolButton(text="▲", toolTip="Move the selected experiment up")
        self.down_button = QToolButton(text="▼", toolTip="Move the selected experiment down")
        self.remove_button = QToolButton(text="✕", toolTip="Remove the selected experiment")
        self.compare_button = QPushButton("Compare…")
        self.compare_button.setToolTip("Compare the runs of the selected experiment")
        self.new_button.clicked.connect(self.new_requested)
        self.run_button.clicked.connect(self.run_queue)
        self.up_button.clicked.connect(lambda: self.move_item(-1))
        self.down_button.clicked.connect(lambda: self.move_item(1))
        self.remove_button.clicked.connect(self.remove)
        self.compare_button.clicked.connect(self.compare)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(["Trial", "Point", "Seeds", "Metric", "State"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column in (0, 2, 3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.caption = QLabel("Queue experiments with New Experiment…; they run one after another.")
        self.caption.setWordWrap(True)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        for b in (
            self.new_button,
            self.run_button,
            self.up_button,
            self.down_button,
            self.remove_button,
        ):
            row.addWidget(b)
        top_layout.addLayout(row)
        top_layout.addWidget(self.queue)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(self.caption, 1)
        line.addWidget(self.compare_button)
        bottom_layout.addLayout(line)
        bottom_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._refresh()

    # ------------------------------------------------------------------ queue
    def restore(self) -> None:
        """Bring back the queue of the last session (it does not start by itself)."""
        if self.path is None or self._restored:
            return
        restored, problems = load_queue(self.path)
        self._restored = True
        for problem in problems:
            self.message.emit(problem)
        self.items = restored + self.items  # after them, what was queued before this turn
        self._refresh(select=self.items[0] if self.items else None)
        if restored:
            waiting = sum(i.state in ("queued", "stopped") for i in restored)
            self.message.emit(
                f"the last session's experiments are back ({len(restored)}, {waiting} to run): "
                f"see the Experiments tab"
            )

    def add(self, item: QueueItem, run: bool = False) -> None:
        self.items.append(item)
        self._refresh(select=item)
        if run:
            self.run_queue()

    def run_queue(self) -> None:
        self.active = True
        if self._is_busy():
            if self.current is None:
                self.message.emit("the queue starts when the current run ends")
            return
        self._start_next()

    def _start_next(self) -> None:
        item = next((i for i in self.items if i.state in ("queued", "stopped")), None)
        if item is None or not self.active:
            self.active = False
            self._refresh()
            return
        if not self._start_job(item):
            return
        item.state, item.message = "running", ""
        self.current = item
        self._refresh(select=item)

    def move_item(self, step: int) -> None:
        row = self.queue.currentRow()
        other = row + step
        if not (0 <= row < len(self.items) and 0 <= other < len(self.items)):
            return
        self.items[row], self.items[other] = self.items[other], self.items[row]
        self._refresh(select=self.items[other])

    def remove(self) -> None:
        row = self.queue.currentRow()
        if not 0 <= row < len(self.items):
            return
        if self.items[row] is self.current:
            self.message.emit("the running experiment is stopped with Stop, then removed")
            return
        del self.items[row]
        self._refresh()

    def compare(self) -> None:
        item = self._selected()
        runs = item.runs if item else []
        if len(runs) < 2:
            self.message.emit("an experiment needs two finished runs to compare")
            return
        self.compare_requested.emit(runs)

    def _selected(self) -> QueueItem | None:
        row = self.queue.currentRow()
        return self.items[row] if 0 <= row < len(self.items) else None

    # ---------------------------------------------------------------- records
    def on_records(self, batch: list) -> None:
        item = self.current
        if item is None:
            return
        changed = False
        for record in batch:
            if isinstance(record, SweepStarted):
                item.total = record.total
                changed = True
            elif isinstance(record, TrialStarted):
                self._row(
                    item,
                    record.trial,
                    record.point,
                    f"{record.repeat}/{record.seeds}",
                    "",
                    "running",
                )
            elif isinstance(record, TrialFinished):
                item.trials[record.trial] = record
                self._show_trial(item, record)
                changed = True
            elif isinstance(record, SweepFinished):
                item.state = "stopped" if record.stopped else "done"
                changed = True
            elif isinstance(record, RunFailed) and record.kind == "sweep":
                item.state, item.message = "failed", record.message
                self.message.emit(f"experiment failed: {record.message}")
                changed = True
        if changed:
            self._refresh(select=item)

    def run_ended(self) -> None:
        """The training process ended (the panel's running turned off)."""
        item, self.current = self.current, None
        if item is None:
            if self.active:  # a run started by hand was in the way
                QTimer.singleShot(0, self, self._start_next)
            return
        if item.state == "running":  # the process ended without a sweep's last record
            item.state, item.message = "failed", item.message or "the training process ended"
        if item.state != "done":
            self.active = False  # Stop (or a failure) stops the queue; Run Queue goes on
        self._refresh()
        if self.active:
            QTimer.singleShot(0, self, self._start_next)

    # ------------------------------------------------------------------ views
    def _refresh(self, select: QueueItem | None = None) -> None:
        self._save()
        keep = select or self._selected()
        self.queue.blockSignals(True)
        self.queue.clear()
        for item in self.items:
            entry = QListWidgetItem(item_text(item))
            entry.setToolTip("\n".join(item.spec.params))
            self.queue.addItem(entry)
        if keep in self.items:
            self.queue.setCurrentRow(self.items.index(keep))
        self.queue.blockSignals(False)
        self._show_item(self.queue.currentRow())
        waiting = any(i.state in ("queued", "stopped") for i in self.items)
        self.run_button.setEnabled(waiting and self.current is None)
        self.run_button.setText(
            "Continue Queue" if any(i.state == "stopped" for i in self.items) else "Run Queue"
        )

    def _save(self) -> None:
        if self.path is None or not self._restored:
            return
        try:
            save_queue(self.items, self.path)
        except OSError as exc:
            self.message.emit(f"the experiment queue could not be saved to {self.path}: {exc}")

    def _show_item(self, row: int) -> None:
        item = self.items[row] if 0 <= row < len(self.items) else None
        self.table.setRowCount(0)
        self.compare_button.setEnabled(bool(item and len(item.runs) >= 2))
        if item is None:
            return
        metric = METRICS[item.spec.metric]
        self.table.horizontalHeaderItem(3).setText(metric.title)
        names = ", ".join(p.split("=")[0] for p in item.spec.params)
        self.caption.setText(
            f"{item.title}: {item.spec.sampler} over {names}, {item.spec.seeds} seed(s) per point"
        )
        for trial in item.trials.values():
            self._show_trial(item, trial)

    def _show_trial(self, item: QueueItem, trial: TrialFinished) -> None:
        if item is not self._selected():
            return
        metric = METRICS[item.spec.metric]
        value = "—"
        if trial.value is not None:
            value = Interval(trial.value, trial.half, len(trial.values), None).text(
                percent=metric.percent
            )
        self._row(
            item,
            trial.trial,
            trial.point,
            str(len(trial.values)),
            value,
            trial.state,
            trial.message,
        )

    def _row(
        self,
        item: QueueItem,
        trial: int,
        point: dict,
        seeds: str,
        value: str,
        state: str,
        tip: str = "",
    ) -> None:
        if item is not self._selected():
            return
        row = next(
            (r for r in range(self.table.rowCount()) if self.table.item(r, 0).text() == str(trial)),
            None,
        )
        if row is None:
            row = self.table.rowCount()
            self.table.insertRow(row)
        text = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items()
        )
        for column, cell in enumerate((str(trial), text, seeds, value, state)):
            entry = QTableWidgetItem(cell)
            if tip or column == 1:  # the point in full: the column is narrow in a small window
                entry.setToolTip(tip or text)
            if state == "failed":
                entry.setForeground(QColor("#b00020"))
            self.table.setItem(row, column, entry)
        self.table.scrollToItem(self.table.item(row, 0))
