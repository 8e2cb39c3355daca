"""Time to first window, measured side by side in one run (the machines are noisy).

(a) a bare QMainWindow (Qt alone), (b) NetBuilder's main window with LeNet-5 loaded: each from
process start until the window has been shown and painted, warm (files cached), interleaved.
Goal for (b): ≤ 0.6 s. Also reports whether torch was imported before the window showed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE = (
    "import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')\n"
    "from PySide6.QtWidgets import QApplication, QMainWindow\n"
    "app = QApplication([]); w = QMainWindow(); w.resize(1400, 860); w.show()\n"
    "app.processEvents(); w.grab(); import time, sys\n"
    "print(time.time(), 'torch' in sys.modules)\n"
)
APP = (
    "import os; os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')\n"
    "from PySide6.QtWidgets import QApplication\n"
    "app = QApplication([])\n"
    "from app.ui.app import default_document\n"
    "from app.ui.main_window import MainWindow\n"
    "w = MainWindow(default_document()); w.show()\n"
    "app.processEvents(); w.grab(); import time, sys\n"
    "print(time.time(), 'torch' in sys.modules)\n"
    "w.document.undo_stack.setClean()\n"
)


def once(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    return time.perf_counter() - start, out


def main() -> None:
    once(BARE), once(APP)  # warm the file cache
    bare, app, torch_loaded = [], [], set()
    for _ in range(7):
        bare.append(once(BARE)[0])
        seconds, flag = once(APP)
        app.append(seconds)
        torch_loaded.add(flag)
    mb, ma = statistics.median(bare), statistics.median(app)
    print(f"(a) bare Qt window:        median {mb:.3f} s")
    print(
        f"(b) NetBuilder + LeNet-5:  median {ma:.3f} s   (goal ≤ 0.6 s; "
        f"{ma - mb:+.3f} s over bare Qt)"
    )
    print(f"torch imported before the window showed: {'yes' if 'True' in torch_loaded else 'no'}")


if __name__ == "__main__":
    main()
