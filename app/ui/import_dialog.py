"""File → Import PyTorch Model…: a torchvision name or a class in a Python file, traced onto a
new project by ``main.py import`` in a separate process (the window never imports torch, stays
responsive, and Cancel stops the import at once)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from app.ui import file_names

MAIN = Path(__file__).resolve().parents[2] / "main.py"


def _with_browse(field: QLineEdit, browse) -> QHBoxLayout:  # type: ignore[no-untyped-def]
    """``field`` with a Browse… button that calls ``browse``."""
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(button)
    return row


class ImportDialog(QDialog):
    """Asks for the source, its input shape and constructor arguments."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import PyTorch Model")
        self.setMinimumWidth(560)  # a path or torchvision name shows whole
        form = QFormLayout(self)
        self.source = QLineEdit()
        self.source.setPlaceholderText("torchvision:resnet18, or model.py:ClassName")
        form.addRow("Model:", _with_browse(self.source, self._browse))
        self.shape = QLineEdit("3,224,224")
        self.shape.setToolTip("The input of one sample: channels, height, width")
        form.addRow("Input C,H,W:", self.shape)
        self.args = QLineEdit()
        self.args.setPlaceholderText('optional, JSON: {"num_classes": 10}')
        form.addRow("Arguments:", self.args)
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("optional: a state dict for the model (.pt)")
        form.addRow("Weights:", _with_browse(self.weights, self._browse_weights))
        note = QLabel(
            "Every module and operation becomes a block with its module path and weights; a "
            "module that computes what a composite block computes becomes that block, and a "
            "torch or torchvision module no block computes may be kept whole (opaque).\n"
            "Importing a .py file runs its code."
        )
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import…")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        form.addRow(self.error)

    def _browse(self) -> None:
        path = file_names.ask_open(self, "Python file with the model", "Python (*.py)")
        if path:
            self.source.setText(path)

    def _browse_weights(self) -> None:
        path = file_names.ask_open(self, "Weights", "PyTorch weights (*.pt *.pth)")
        if path:
            self.weights.setText(path)

    def _accept(self) -> None:
        problem = self.problem()
        self.error.setText(problem)
        if not problem:
            self.accept()

    def problem(self) -> str:
        """What is wrong with the fields (empty when they can be tried)."""
        source = self.source.text().strip()
        if not source:
            return "Name a torchvision model (torchvision:resnet18) or a .py file."
        if not source.startswith("torchvision:") and ".py" not in source:
            return "Use torchvision:NAME, FILE.py or FILE.py:ClassName."
        parts = self.shape.text().replace(" ", "").split(",")
        if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
            return "The input shape is three positive whole numbers: C,H,W."
        return ""

    def arguments(self, output: Path) -> list[str]:
        """``main.py import`` arguments for the fields, writing ``output``."""
        argv = ["import", self.source.text().strip(), "-o", str(output)]
        argv += ["--input", self.shape.text().replace(" ", "")]
        if self.args.text().strip():
            argv += ["--args", self.args.text().strip()]
        if self.weights.text().strip():
            argv += ["--weights", self.weights.text().strip()]
        return argv

    def suggested_name(self) -> str:
        source = self.source.text().strip()
        name = source.split(":")[-1] if ":" in source[2:] else Path(source).stem
        return name or "imported"


class ImportJob(QProgressDialog):
    """Runs ``main.py import`` in its own process; ``finished_ok(path)`` or
    ``failed(message)`` when it ends. Cancel kills the process and writes nothing."""

    finished_ok = Signal(Path)
    failed = Signal(str)

    def __init__(self, argv: list[str], output: Path, parent: QWidget | None = None) -> None:
        super().__init__("Importing the model (tracing it with torch.fx)…", "Cancel", 0, 0, parent)
        self.setWindowTitle("Import PyTorch Model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.output = output
        self.cancelled = False
        self.summary = ""  # what the import printed, when it succeeded
        self.process = QProcess(self)
        self.process.setProgram(sys.executable)
        self.process.setArguments([str(MAIN), *argv])
        self.process.finished.connect(self._done)
        self.process.errorOccurred.connect(self._error)
        self.canceled.connect(self._cancel)

    def start(self) -> None:
        self.show()
        self.process.start()

    def _cancel(self) -> None:
        self.cancelled = True
        self.process.kill()

    def _finish(self) -> None:
        """Hide without cancelling (closing a QProgressDialog emits ``canceled``)."""
        self.canceled.disconnect(self._cancel)
        self.hide()
        self.deleteLater()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._finish()
            self.failed.emit(f"the import process did not start: {self.process.errorString()}")

    def _done(self, code: int, status: QProcess.ExitStatus) -> None:
        self._finish()
        if self.cancelled:
            self.failed.emit("import cancelled")
            return
        err = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        out = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        if code == 0 and status == QProcess.ExitStatus.NormalExit and self.output.exists():
            self.summary = out.strip()
            self.finished_ok.emit(self.output)
        else:
            text = err.strip().removeprefix("error: ") or out.strip() or f"exit code {code}"
            self.failed.emit(text)
