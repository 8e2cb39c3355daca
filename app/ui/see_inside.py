"""Train → See Inside…: the ``main.py inspect`` figures in the window. Each is drawn by its
own process (the window never imports torch), shows its progress, can be cancelled, and
appears with the numbers the command printed."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QFontDatabase, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
)

from app.ui.import_dialog import MAIN

#: what the dialog shows: (key, title, needs a trained run)
VIEWS = (  # feature maps, Grad-CAM and saliency show the initialisation before any run
    ("features", "Feature maps of a block", False),
    ("gradcam", "Grad-CAM: where the network looks", False),
    ("saliency", "Saliency: which pixels matter", False),
    ("signal", "Signal propagation at initialisation", False),
    ("augment", "Augmentation preview", False),
    ("landscape", "Loss landscape around the run's weights", True),
)
_PROGRESS = re.compile(r"^progress (\d+)/(\d+)$")


class InspectJob(QProcess):
    """``main.py inspect …`` in its own process; ``progress(done, total)`` from its progress
    lines, then ``finished_ok(text)`` or ``failed(message)``."""

    progress = Signal(int, int)
    finished_ok = Signal(str)
    failed = Signal(str)

    def __init__(self, argv: list[str], parent=None) -> None:
        super().__init__(parent)
        self.cancelled = False
        self._out = ""
        self.setProgram(sys.executable)
        self.setArguments([str(MAIN), "inspect", *argv])
        self.readyReadStandardOutput.connect(self._read)
        self.finished.connect(self._done)
        self.errorOccurred.connect(self._error)

    def cancel(self) -> None:
        self.cancelled = True
        self.kill()

    def _read(self) -> None:
        text = bytes(self.readAllStandardOutput().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            found = _PROGRESS.match(line.strip())
            if found:
                self.progress.emit(int(found[1]), int(found[2]))
            else:
                self._out += line + "\n"

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit(f"the process did not start: {self.errorString()}")

    def _done(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read()
        if self.cancelled:
            self.failed.emit("cancelled")
            return
        err = bytes(self.readAllStandardError().data()).decode("utf-8", "replace").strip()
        if code == 0 and status == QProcess.ExitStatus.NormalExit:
            self.finished_ok.emit(self._out.strip())
        else:
            last = err.splitlines()[-1] if err else f"exit code {code}"
            self.failed.emit(last.removeprefix("error: "))


class SeeInsideDialog(QDialog):
    """``project_file()`` gives the open project saved to a file; ``run_dir()`` the last run
    (or None); ``nodes`` the blocks a feature map can be read at."""

    def __init__(self, project_file, run_dir, nodes: list[str], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("See inside the network")
        self.project_file, self.run_dir = project_file, run_dir
        self.job: InspectJob | None = None
        self.output = Path(tempfile.mkdtemp(prefix="netbuilder-inside-")) / "figure.png"
        self.view = QComboBox()
        for key, title, _ in VIEWS:
            self.view.addItem(title, key)
        self.node = QComboBox()
        self.node.addItems(nodes)
        self.node.setEditable(True)
        self.index = QSpinBox()
        self.index.setRange(0, 100000)
        self.index.setToolTip("The validation image (feature maps, Grad-CAM) or the training step")
        self.extra = QLineEdit(placeholderText="more options, as on the command line")
        self.run_button = QPushButton("Show")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setTextVisible(False)  # idle: an empty bar, not "0%"
        self.status = QLabel()
        self.status.setWordWrap(True)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.status.setFont(mono)  # the command's columns line up
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.scroll = scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        form = QFormLayout()
        form.addRow("Show", self.view)
        form.addRow("Block", self.node)
        form.addRow("Image / step", self.index)
        form.addRow("Options", self.extra)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.view.currentIndexChanged.connect(self._view_changed)
        self._view_changed()
        self.resize(860, 620)  # fits a 1000×700 screen

    def show_view(self, key: str, node: str = "") -> None:
        self.view.setCurrentIndex(self.view.findData(key))
        if node:
            self.node.setCurrentText(node)

    def _view_changed(self) -> None:
        key = self.view.currentData()
        self.node.setEnabled(key in ("features", "gradcam"))
        self.index.setEnabled(key in ("features", "gradcam", "saliency", "augment"))
        needs_run = dict((k, r) for k, _, r in VIEWS)[key]
        ready = not needs_run or self.run_dir() is not None
        self.run_button.setEnabled(ready and self.job is None)
        self.status.setText("" if ready else "This needs a trained run: train the network first.")

    def arguments(self) -> list[str]:
        """The ``inspect`` command line of the chosen view."""
        key = self.view.currentData()
        has_run = self.run_dir() is not None
        run = str(self.run_dir()) if has_run else str(self.project_file())
        out = ["-o", str(self.output)]
        more = self.extra.text().split()
        index = str(self.index.value())
        if key == "features":
            return ["features", run, "--node", self.node.currentText(), "--index", index, *out]
        if key in ("gradcam", "saliency"):
            chosen = self.node.currentText() if key == "gradcam" else ""
            node = ["--node", chosen] if chosen else []
            sal = ["--saliency"] if key == "saliency" else []
            return ["gradcam", run, *node, *sal, "--index", index, *out, *more]
        if key == "signal":
            return ["signal", str(self.project_file()), *out, *more]
        if key == "augment":
            return ["augment", str(self.project_file()), "--step", index, *out, *more]
        return ["landscape", run, "--progress", *out, *more]

    def start(self) -> None:
        if self.job is not None:
            return
        self.output.unlink(missing_ok=True)
        self.job = InspectJob(self.arguments(), self)
        self.job.progress.connect(self._progress)
        self.job.finished_ok.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.progress.setRange(0, 0)  # busy until a progress line says how far
        self.status.setText("Working (in its own process)…")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _progress(self, done: int, total: int) -> None:
        self.progress.setTextVisible(True)
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _end(self) -> None:
        self.job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.cancel_button.setEnabled(False)
        self._view_changed()

    def _finished(self, text: str) -> None:
        self._end()
        lines = [line for line in text.splitlines() if not line.startswith("wrote ")]
        self.status.setText("\n".join(lines))
        pixmap = QPixmap(str(self.output))
        room = self.scroll.viewport().width() - 4
        if pixmap.width() > room > 200:  # the whole figure in view; scrolls only down
            pixmap = pixmap.scaledToWidth(room, Qt.TransformationMode.SmoothTransformation)
        self.picture.setPixmap(pixmap)

    def _failed(self, message: str) -> None:
        self._end()
        self.status.setText(f"<b>Not shown:</b> {message}")

    def done(self, result: int) -> None:  # closing: a running figure is not waited for
        self.cancel()
        super().done(result)
