"""The Results tab: the evaluation view of the finished run and its exports (weights, code,
bundle), written by a worker process so that the GUI never imports torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.core.training.events import RunResults
from app.ui import file_names
from app.ui.training.results_view import ResultsView

FILTERS = {"weights": "Weights (*.pt)", "code": "Python (*.py)", "bundle": "Zip (*.zip)"}


class ResultsTab(QWidget):
    """``source`` says what to export: (the project as JSON, the run directory or None)."""

    message = Signal(str)
    _exported = Signal(str, object)  # (kind, Future): from the export pool's thread

    def __init__(self, source: Callable[[], tuple[str, Path | None]]) -> None:
        super().__init__()
        self.source = source
        self._pool = None  # process pool for exports, started on first use
        self._exported.connect(self._export_finished)
        self.view = ResultsView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text in (
            ("weights", "Export Weights…"),
            ("code", "Export Code…"),
            ("bundle", "Export Bundle…"),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, k=key: self.export_dialog(k))
            button.setEnabled(False)
            row.addWidget(button)
            self.buttons[key] = button
        layout.addLayout(row)
        layout.addWidget(self.view, 1)

    def set_results(self, results: RunResults | None) -> None:
        """Show a run's results (None: a new run started, nothing to export yet)."""
        if results is not None:
            self.view.show_results(results)
        else:
            self.view.clear()
        for button in self.buttons.values():
            button.setEnabled(results is not None)

    def export_dialog(self, kind: str) -> None:
        import json

        name = json.loads(self.source()[0]).get("name") or "network"  # the project's name
        suffix = {"weights": "_weights.pt", "code": ".py", "bundle": "_run.zip"}[kind]
        start = file_names.suggested(name, suffix)
        path = file_names.ask_save(self, f"Export {kind}", start, FILTERS[kind])
        if path:
            self.export(kind, Path(path))

    def export(self, kind: str, path: Path):
        """Export the run (its best weights, the code, or a bundle with metrics) in a worker
        process. Returns the job's Future; ``message`` says when it is written or why not."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from app.core.export.jobs import export_run

        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        project_json, run_dir = self.source()
        self.message.emit(f"exporting {kind} to {path}…")
        future = self._pool.submit(
            export_run, kind, project_json, str(path), str(run_dir) if run_dir else None
        )
        future.add_done_callback(lambda f: self._exported.emit(kind, f))
        return future

    def _export_finished(self, kind: str, future) -> None:
        try:
            path = future.result()
        except Exception as exc:  # reported, never raised into Qt
            self.message.emit(f"cannot export {kind}: {exc}")
            return
        self.message.emit(f"exported {kind} to {path}")

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
