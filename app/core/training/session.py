"""Run the engine away from the caller's thread: in a child process (what the app uses) or in
a background thread (kept for the comparison in bench/gui_training.py).

Why a process: measured on 2 cores (bench/gui_training.py), the same loop in a Python thread
next to a live GUI loses 10–20% of its speed to the GIL (every Python-level step of the loop
waits while the GUI thread runs Python: event dispatch, plotting), while a child process has
its own interpreter and only shares the cores. Events cross over a queue as pickled immutable
records; pause/resume/stop are process-shared flags the loop checks between steps. The child
is spawned, so it re-imports the parent's main script: that script must not import Qt at its
top level (with PySide6 loaded the child trained 5-15% slower).

Both handles have the same small interface: ``start``, ``pause``, ``resume``, ``stop``,
``get(timeout)`` (a batch of records, ``None`` at the end), ``join(timeout)``, ``alive``.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.training.config import TrainConfig
from app.core.training.events import RunControl, RunFailed, RunStarted, Status

END = None  # the last item a run puts on its queue
#: The training process yields the CPU to the GUI whenever the GUI has work (its threads
#: otherwise keep every core busy and the window's timers fire up to 90 ms late on 2 cores);
#: the GUI is idle most of the time, so training loses almost nothing.
CHILD_NICENESS = 10


@dataclass(frozen=True)
class RunRequest:
    """What a run is asked to do, as plain picklable values (it crosses to the training
    process): the project, its settings, and where the run folder goes."""

    project_json: str
    config: dict[str, Any]
    name: str = "run"
    runs_root: str | None = None  # a new run folder under it (None: the default root)
    run_dir: str | None = None  # or this one, to continue a run
    #: another job than one run (a sweep): ``job(request, put, control)`` runs in the child
    #: in place of the engine; a module-level function (pickled by name, imported there)
    job: Callable[[RunRequest, Callable[[Any], None], RunControl], None] | None = None
    options: dict[str, Any] | None = None  # the job's own plain values

    @classmethod
    def of(
        cls,
        project_json: str,
        config: TrainConfig,
        name: str,
        runs_root: Path | None = None,
        run_dir: Path | None = None,
        job: Callable | None = None,
        options: dict[str, Any] | None = None,
    ) -> RunRequest:
        return cls(
            project_json,
            config.to_dict(),
            name,
            str(runs_root) if runs_root else None,
            str(run_dir) if run_dir else None,
            job,
            options,
        )


def _drive(request: RunRequest, out, control: RunControl, evaluate: bool) -> None:
    """Run the engine and put every event on ``out``; then the results; then END."""
    try:
        if request.job is not None:
            request.job(request, out.put, control)
            return
        from app.core.serialization import loads
        from app.core.training.engine import Trainer
        from app.core.training.events import RunFinished

        project = loads(request.project_json)
        settings = TrainConfig.from_dict(request.config)
        if settings.pretrained and not request.run_dir:  # a download shows its progress
            from app.core.training.errors import TrainingFailure
            from app.core.training.pretrained import fetch_with_progress

            try:
                fetch_with_progress(
                    settings.pretrained, lambda *progress: out.put(Status(*progress))
                )
            except TrainingFailure as exc:
                out.put(RunFailed(exc.kind, str(exc), 0, ""))
                return
        out.put(Status(f"loading {settings.dataset} and building the network…"))
        trainer = Trainer(
            project.graph,
            settings,
            name=request.name,
            runs_root=Path(request.runs_root) if request.runs_root else None,
            run_dir=Path(request.run_dir) if request.run_dir else None,
            control=control,
            pause_on_nonfinite=True,  # the user resumes (with a lower LR) or stops
        )
        last = None
        for event in trainer.run():
            out.put(event)
            last = event
            if isinstance(event, RunStarted):  # the first step may take a while (compile)
                out.put(Status(
                    "compiling the model (torch.compile) and running the first step…"
                    if settings.compile
                    else f"running the first step on {event.device}…"
                ))  # fmt: skip
        # a stopped run ends at once: its evaluation (minutes for a large network on a CPU)
        # would keep the window waiting after Stop; Continue resumes it, a finished run is scored
        finished = isinstance(last, RunFinished) and last.reason != "stopped"
        if evaluate and finished and trainer.model is not None:
            from app.core.training.results import evaluate_run

            try:
                out.put(evaluate_run(trainer))
            except Exception as exc:  # the run itself succeeded: say why there is no view
                out.put(RunFailed("results", f"could not evaluate: {exc}", last.step, ""))
    except BaseException as exc:  # never die silently: the GUI must hear about it
        out.put(RunFailed("error", f"{type(exc).__name__}: {exc}", 0, ""))
        traceback.print_exc()
    finally:
        out.put(END)


def _child_main(request: RunRequest, out, stop, go, scale, parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # POSIX; elsewhere keep the priority
        os.nice(CHILD_NICENESS)
    control = RunControl(stop, go, scale)
    threading.Thread(
        target=_watch_parent, args=(parent, control), name="parent-watch", daemon=True
    ).start()
    _drive(request, out, control, True)


#: seconds a training process whose window died has to stop (and save) before it exits
ORPHAN_GRACE_S = 30.0


def _watch_parent(parent: int, control: RunControl, every_s: float = 0.5) -> None:
    """The training process is not a daemon (an image folder's DataLoader starts worker
    processes, which a daemon may not have), so it must notice when the window's process is
    gone: it then stops the run (the checkpoint is kept) and exits."""
    import time

    while os.getppid() == parent:
        time.sleep(every_s)
    control.stop()
    time.sleep(ORPHAN_GRACE_S)
    os._exit(1)


class _Handle:
    """What both kinds of run share: the queue, batching, and control."""

    def __init__(self, q, control: RunControl) -> None:
        self.queue = q
        self.control = control
        self.ended = False

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.control.stop()

    def set_lr_scale(self, factor: float) -> None:
        self.control.set_lr_scale(factor)

    def get(self, timeout: float = 0.1, limit: int = 10_000) -> list | None:
        """The records that arrived (waiting up to ``timeout`` for the first); ``None`` once
        the run has ended and everything was delivered."""
        if self.ended:
            return None
        items: list = []
        try:
            items.append(self.queue.get(timeout=timeout))
            while len(items) < limit:
                items.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        except (EOFError, OSError):  # the child died and took its pipe along
            items.append(END)
        if END in items:
            items = items[: items.index(END)]
            self.ended = True
            if not items:
                return None
        if not items and not self.alive:
            self.ended = True
            return [RunFailed("error", "the training process ended unexpectedly", 0, "")]
        return items


class ProcessRun(_Handle):
    """The engine in a child process (spawned: a clean interpreter, no inherited Qt state)."""

    def __init__(
        self,
        project_json: str,
        config: TrainConfig,
        *,
        name: str = "run",
        runs_root: Path | None = None,
        run_dir: Path | None = None,
        job: Callable | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        stop, go, scale = ctx.Event(), ctx.Event(), ctx.Value("d", 1.0)
        go.set()
        super().__init__(ctx.Queue(), RunControl(stop, go, scale))
        request = RunRequest.of(project_json, config, name, runs_root, run_dir, job, options)
        self.process = ctx.Process(
            target=_child_main,
            args=(request, self.queue, stop, go, scale, os.getpid()),
            name="netbuilder-training",
        )
        # not a daemon: a daemon may not start processes, and an image folder's DataLoader
        # starts its workers (the run failed: "daemonic processes are not allowed to have
        # children"). The child exits when this process is gone (_watch_parent); at exit
        # this process stops it first, so nothing waits for a run to finish.
        self.process.daemon = False

    def start(self) -> None:
        self.process.start()
        atexit.register(self._stop_at_exit)

    def _stop_at_exit(self) -> None:
        if self.process.is_alive():
            self.control.stop()
            self.join(10.0)
            if self.process.is_alive():
                self.process.kill()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the child; True when it has exited. It is killed if a stop was asked and
        it does not exit within ``timeout`` (the checkpoint is written before the loop exits,
        so only a wedged process is killed)."""
        if self.process.pid is None:  # never started (start() failed)
            return True
        self.process.join(timeout)
        if self.process.is_alive() and self.control.stop_requested and timeout is not None:
            self.process.kill()
            self.process.join(5)
        if not self.process.is_alive():
            atexit.unregister(self._stop_at_exit)
        with contextlib.suppress(Exception):
            self.queue.cancel_join_thread()
        return not self.process.is_alive()


class ThreadRun(_Handle):
    """The engine in a background thread of this process."""

    def __init__(
        self,
        project_json: str,
        config: TrainConfig,
        *,
        name: str = "run",
        runs_root: Path | None = None,
        run_dir: Path | None = None,
        job: Callable | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(queue.Queue(), RunControl())
        request = RunRequest.of(project_json, config, name, runs_root, run_dir, job, options)
        self.thread = threading.Thread(
            target=_drive, args=(request, self.queue, self.control, True), daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()
