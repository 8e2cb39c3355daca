"""The Results tab: the evaluation view of the finished run and its exports (weights, code,
bundle), written by a worker process so that the GUI never imports torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.training.events import RunResults
from app.ui import file_names
from app.ui.training.results_view import ResultsView

FILTERS = {"weights": "Weights (*.pt)", "code": "Python (*.py)", "bundle": "Zip (*.zip)"}
IMAGE_FILES = "Images (*.png *.jpg *.jpeg *.bmp *.ppm *.pgm *.tif *.tiff *.webp)"
THUMB = 96  # the side of a classified image's picture
MAX_SHOWN = 12  # classified images kept on the tab (the latest)


class ResultsTab(QWidget):
    """``source`` says what to export: (the project as JSON, the run directory or None)."""

    message = Signal(str)
    _exported = Signal(str, object)  # (kind, Future): from the export pool's thread
    _predicted = Signal(object)  # Future of a list of Prediction: from the pool's thread
    look_requested = Signal(str)  # "gradcam" / "saliency": where the run's network looks

    def __init__(self, source: Callable[[], tuple[str, Path | None]]) -> None:
        super().__init__()
        self.source = source
        self._pool = None  # process pool for exports, started on first use
        self._exported.connect(self._export_finished)
        self._predicted.connect(self._predict_finished)
        self.setAcceptDrops(True)
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
        self.classify_button = QPushButton("Classify Images…")
        self.classify_button.setToolTip(
            "The run's top-5 classes for image files (or drop images on this tab)"
        )
        self.classify_button.clicked.connect(self.classify_dialog)
        layout.addLayout(row)
        hint = QLabel("Drop image files here to see the run's top-5 classes for each.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")
        self.look_button = QPushButton("Where It Looks…")
        self.look_button.setToolTip(
            "Grad-CAM over the validation images: where the trained network looks (See Inside)"
        )
        self.look_button.clicked.connect(lambda: self.look_requested.emit("gradcam"))
        self.look_button.setEnabled(False)
        second = QHBoxLayout()  # its own row: a fourth button widened the dock at 1000×700
        second.addWidget(hint, 1)
        second.addWidget(self.look_button)
        second.addWidget(self.classify_button)
        layout.addLayout(second)
        self.predictions = QGroupBox("Your images: the run's top-5 classes (newest first)")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        self.predictions_list = QVBoxLayout(inner)
        self.predictions_list.setContentsMargins(0, 0, 0, 0)
        self.predictions_list.addStretch(1)
        scroll.setWidget(inner)
        scroll.setFixedHeight(THUMB + 12)  # the newest image; the others scroll
        self._inner = inner
        box = QVBoxLayout(self.predictions)
        box.setContentsMargins(4, 4, 4, 4)
        box.addWidget(scroll)
        self.predictions.hide()
        self._shown: list[tuple[QLabel, QLabel]] = []
        layout.addWidget(self.predictions)
        layout.addWidget(self.view, 1)

    def set_results(self, results: RunResults | None) -> None:
        """Show a run's results (None: a new run started, nothing to export yet)."""
        if results is not None:
            self.view.show_results(results)
        else:
            self.view.clear()
        for button in (*self.buttons.values(), self.look_button):
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
        from app.core.export.jobs import export_run

        project_json, run_dir = self.source()
        self.message.emit(f"exporting {kind} to {path}…")
        future = self._worker().submit(
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

    # ------------------------------------------------------------ classify images
    def dragEnterEvent(self, event) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.classify(paths)

    def classify_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Classify images", "", IMAGE_FILES)
        if paths:
            self.classify(paths)

    def classify(self, paths: list[str]):
        """The run's top-5 classes for each image, computed in the worker process (the
        window never imports torch); shown with the image. Returns the job's Future."""
        _, run_dir = self.source()
        if run_dir is None:
            self.message.emit("no trained run yet: train the network, then drop images here")
            return None
        from app.core.training.jobs import classify_images

        self.message.emit(f"classifying {len(paths)} image(s) with {Path(run_dir).name}…")
        future = self._worker().submit(classify_images, str(run_dir), list(paths))
        future.add_done_callback(self._predicted.emit)
        return future

    def _worker(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def _predict_finished(self, future) -> None:
        try:
            predictions = future.result()
        except Exception as exc:  # a file that is no image, a run without weights: said
            self.message.emit(f"cannot classify: {exc}")
            return
        for image, top in predictions:
            self.show_prediction(image, top)
        self.message.emit(f"classified {len(predictions)} image(s)")

    def show_prediction(self, image: str, top) -> None:
        picture, text = QLabel(), QLabel()
        pixmap = QPixmap(image)
        if not pixmap.isNull():
            picture.setPixmap(
                pixmap.scaled(
                    THUMB,
                    THUMB,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        picture.setFixedSize(THUMB, THUMB)
        rows = "".join(
            f"<tr><td>{'<b>' if i == 0 else ''}{name}{'</b>' if i == 0 else ''}</td>"
            f"<td align='right'>&nbsp;{prob:.1%}</td></tr>"
            for i, (name, prob) in enumerate(top)
        )
        text.setText(f"<small>{Path(image).name}</small><table>{rows}</table>")
        text.setToolTip(image)
        row = QWidget()
        row.setFixedHeight(THUMB + 4)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(picture)
        line.addWidget(text, 1)
        self.predictions_list.insertWidget(0, row)  # the newest on top
        self._shown.insert(0, (picture, text))
        if len(self._shown) > MAX_SHOWN:
            self._shown.pop()
            old = self.predictions_list.takeAt(MAX_SHOWN)
            old.widget().deleteLater()  # type: ignore[union-attr]
        spacing = self.predictions_list.spacing()
        self._inner.setMinimumHeight(len(self._shown) * (THUMB + 4 + spacing))
        self.predictions.show()

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
