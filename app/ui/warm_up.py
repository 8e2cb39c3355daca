"""Modules the window needs soon but not to appear, imported in a background thread once it
has painted: the plots (pyqtgraph and numpy, 0.4-0.6 s), the presets dialog and the modules
that start a training process. Imported in
the GUI thread at first use, they held the window for as long (issue 24). A module the GUI
thread asks for while the thread is still importing it waits for that import only.

Never torch: the GUI process does not hold it (training and exports run in other processes).
"""

from __future__ import annotations

import importlib
import threading

MODULES = (
    "numpy",
    "pyqtgraph",
    "app.ui.training.plots",
    "app.ui.training.results_view",
    "app.ui.presets_dialog",
    "platformdirs",  # where the presets dialog looks for the user's own presets
    # what the first F5 needs to start the training process (25 ms of imports at F5)
    "multiprocessing.synchronize",
    "multiprocessing.sharedctypes",
    "multiprocessing.queues",
    "multiprocessing.popen_spawn_posix",
    "app.core.training.session",
    "app.core.training.metrics",
)
#: after the window is shown: its first frame paints before the thread takes the GIL (started
#: at once, the imports competed with that paint and start-up to the painted window slowed)
DELAY_MS = 300
_thread: threading.Thread | None = None
done = threading.Event()


def _import_all() -> None:
    try:
        for name in MODULES:
            importlib.import_module(name)
        # the process that tracks a run's semaphores, started by the first one made (at F5)
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:  # at first use the import runs again, in the GUI thread, and says why
        pass
    finally:
        done.set()


def start() -> None:
    """Start the imports (once per process; later calls do nothing)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_import_all, name="netbuilder-warm-up", daemon=True)
        _thread.start()
