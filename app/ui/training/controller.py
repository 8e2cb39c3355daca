"""Drives one training run from the GUI: a worker object on a QThread starts the engine in a
child process (app.core.training.session) and forwards its records to the GUI thread in
batches, at most about 30 per second, never one signal per step."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from app.core.training.config import TrainConfig
from app.core.training.session import ProcessRun, ThreadRun

BATCH_INTERVAL_S = 1 / 30


class TrainingWorker(QObject):
    """Lives on the run's QThread; blocks on the run's queue, emits batches of records."""

    records = Signal(list)
    done = Signal()

    def __init__(self, handle: ProcessRun | ThreadRun) -> None:
        super().__init__()
        self.handle = handle

    @Slot()
    def run(self) -> None:
        buffer: list = []
        last = 0.0
        try:
            self.handle.start()
            while True:
                # sleep until records come (no polling: every wake-up of this process takes
                # a core from the training's threads); then at most one batch per interval
                wait = max(0.0, last + BATCH_INTERVAL_S - time.monotonic()) if buffer else 0.5
                batch = self.handle.get(timeout=wait or 0.001)
                if batch is None:
                    break
                buffer.extend(batch)
                now = time.monotonic()
                if buffer and now - last >= BATCH_INTERVAL_S:
                    self.records.emit(buffer)
                    buffer, last = [], now
        except Exception as exc:  # starting the process can fail (e.g. no resources)
            from app.core.training.events import RunFailed

            buffer.append(RunFailed("error", f"could not run the training: {exc}", 0, ""))
        if buffer:
            self.records.emit(buffer)
        self.handle.join(10)
        self.done.emit()


class TrainingController(QObject):
    """Start / pause / resume / stop one run at a time; ``shutdown`` stops and joins."""

    records = Signal(list)  # batches of immutable records (events, then RunResults)
    running_changed = Signal(bool)
    paused_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, mechanism: str = "process") -> None:
        super().__init__(parent)
        self.mechanism = mechanism
        self.handle: ProcessRun | ThreadRun | None = None
        self.thread: QThread | None = None
        self.worker: TrainingWorker | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None

    @property
    def paused(self) -> bool:
        return bool(self.handle and self.handle.control.paused)

    def start(
        self,
        project_json: str,
        config: TrainConfig,
        *,
        name: str,
        runs_root: Path,
        run_dir: Path | None = None,
        job=None,
        options: dict | None = None,
    ) -> None:
        """Start a run (or resume the one in ``run_dir``, or run ``job``: a sweep); one at
        a time."""
        if self.running:
            raise RuntimeError("a run is already in progress")
        kind = ProcessRun if self.mechanism == "process" else ThreadRun
        self.handle = kind(
            project_json,
            config,
            name=name,
            runs_root=runs_root,
            run_dir=run_dir,
            job=job,
            options=options,
        )
        self.thread = QThread()
        self.thread.setObjectName("netbuilder-training-worker")
        self.worker = TrainingWorker(self.handle)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.records.connect(self.records)
        # direct: quit() is thread-safe, and a queued call would wait for the GUI thread,
        # which may be blocked in shutdown()'s wait(): a deadlock until the timeout
        self.worker.done.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)
        self.thread.finished.connect(self._finished)
        self.thread.start()
        self.running_changed.emit(True)

    def pause(self) -> None:
        if self.handle:
            self.handle.pause()
            self.paused_changed.emit(True)

    def resume(self) -> None:
        if self.handle:
            self.handle.resume()
            self.paused_changed.emit(False)

    def stop(self) -> None:
        if self.handle:
            self.handle.stop()
            self.paused_changed.emit(False)

    def shutdown(self, timeout_s: float = 20.0) -> bool:
        """Stop the run and wait for it (the engine writes its checkpoint first). A child
        that does not exit in time is killed. True when nothing is left running."""
        if self.thread is None:
            return True
        self.stop()
        thread = self.thread
        if not thread.wait(int(timeout_s * 1000)):
            if isinstance(self.handle, ProcessRun) and self.handle.process.is_alive():
                self.handle.process.kill()
            thread.wait(5000)
        done = thread.isFinished()
        # deliver the run's last records (RunFinished…) now: they were queued for this object
        # while the GUI thread was blocked in wait()
        QCoreApplication.sendPostedEvents(self)
        if done:
            self._finished()
        return done

    def _finished(self) -> None:
        if self.thread is None:
            return
        self.thread.deleteLater()
        if self.worker is not None:
            self.worker.deleteLater()
        self.thread = self.worker = None
        self.running_changed.emit(False)
