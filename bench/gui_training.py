"""Training from the app vs a plain loop, measured interleaved in one run (the machines are noisy).

(a)  images/s of a plain PyTorch training loop in the main thread of a fresh interpreter, no Qt;
(b)  images/s of a run started from the app's training panel (LeNet-5, built-in data, live
     plots redrawn at 10 Hz) with the engine in a child process (what the app uses);
(b') the same with the engine in a worker thread of the GUI process (the alternative);
and, during (b) and (b'), the lateness of a 10 ms heartbeat QTimer in the GUI thread.

Goals: (b)/(a) ≥ 0.90 on CPU; heartbeat lateness p95 ≤ 16 ms, max ≤ 50 ms. Throughput of a
run is the median of the engine's per-report images/s after the first report (start-up and
the end-of-epoch validation are not training steps). (a) runs the same model, batch size and
optimizer on the same data. Usage: python bench/gui_training.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

import presets
from app.core.serialization import Project
from app.ui.document import Document
from app.ui.main_window import MainWindow

BATCH = 128
ROOT = Path(__file__).resolve().parents[1]


def plain_loop(steps: int) -> float:
    """(a) in a fresh interpreter: the GUI process must not hold torch (the app's never does;
    a large heap there lengthens its garbage-collection pauses)."""
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.gui_training import "
    code += f"_plain_loop; print(_plain_loop({steps}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _plain_loop(steps: int) -> float:
    """(a): the compiled LeNet-5, SGD with momentum, pre-normalised tensors, main thread."""
    import torch
    from torch import nn

    from app.core.compiler import compile_graph
    from app.core.training.portable.shapes import make_shapes

    torch.manual_seed(0)
    x, y = make_shapes(BATCH * steps, 28, 1, seed=1)
    x = (x - x.mean()) / x.std()
    model = compile_graph(presets.get("lenet5").build())
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    rates, start = [], time.perf_counter()
    for i in range(steps):
        xb, yb = x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (i + 1) % 20 == 0:
            loss.item()
            now = time.perf_counter()
            rates.append(20 * BATCH / (now - start))
            start = now
    return statistics.median(rates[1:])


def app_run(window: MainWindow, mechanism: str, steps: int) -> tuple[float, list[float]]:
    """(b): a run from the panel; returns (images/s, heartbeat lateness in ms)."""
    panel = window.training
    panel.controller.mechanism = mechanism
    window.document.set_training(
        {
            "dataset": "shapes_gray",
            "train_size": BATCH * steps,
            "val_size": 256,
            "batch_size": BATCH,
            "epochs": 1,
            "report_every": 20,
        }
    )
    late: list[float] = []
    clock = QElapsedTimer()
    heartbeat = QTimer(interval=10)

    def beat() -> None:
        if clock.isValid() and panel.metrics is not None and panel.metrics.last is not None:
            late.append(max(0.0, clock.nsecsElapsed() / 1e6 - 10.0))
            if late[-1] > 50 and os.environ.get("BENCH_DEBUG"):
                m = panel.metrics
                print(f"  late {late[-1]:.0f} ms at step {m.last.step}, ended={m.end is not None}")
        clock.restart()

    heartbeat.timeout.connect(beat)
    loop = QEventLoop()
    panel.running_changed.connect(lambda running: running or loop.quit())
    panel.start()
    heartbeat.start()
    loop.exec()  # the real event loop: it sleeps when there is nothing to do
    heartbeat.stop()
    rates = list(panel.metrics.throughput.values)  # the engine's per-report images/s
    return statistics.median(rates[1:]), late


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    quick = "--quick" in sys.argv
    steps, rounds = (200, 2) if quick else (300, 5)
    os.environ["NETBUILDER_RUNS_DIR"] = tempfile.mkdtemp(prefix="netbuilder-bench-")
    app = QApplication.instance() or QApplication([])
    p = presets.get("lenet5")
    window = MainWindow(Document(Project(p.build(), "LeNet-5 bench")))
    window.resize(1400, 900)
    window.show()
    window.docks["Training"].raise_()
    app.processEvents()
    # This machine's speed drifts by ±20% within a minute, so each (b) is compared with the
    # mean of the (a) runs just before and after it, and the per-round ratios are reported.
    a = [plain_loop(steps)]
    ratios: dict[str, list[float]] = {"process": [], "thread": []}
    rates: dict[str, list[float]] = {"process": [], "thread": []}
    lateness: dict[str, list[float]] = {"process": [], "thread": []}
    for mechanism in ("process", "thread"):  # thread last: it loads torch into this process
        for _ in range(rounds):
            rate, late = app_run(window, mechanism, steps)
            a.append(plain_loop(steps))
            ratios[mechanism].append(rate / ((a[-2] + a[-1]) / 2))
            rates[mechanism].append(rate)
            lateness[mechanism] += late
    print(f"{os.cpu_count()} CPUs; LeNet-5, batch {BATCH}, {steps} steps per run")
    print(f"(a)  plain loop, main thread, no Qt      {statistics.median(a):8.0f} img/s (median)")
    for name, mechanism in (
        ("(b)  app, engine in a child process", "process"),
        ("(b') app, engine in a worker thread", "thread"),
    ):
        r, late = ratios[mechanism], lateness[mechanism]
        print(
            f"{name:40} {statistics.median(rates[mechanism]):8.0f} img/s   (b)/(a) median "
            f"{statistics.median(r):.3f} [{min(r):.2f}–{max(r):.2f}] (goal ≥ 0.90)   "
            f"heartbeat lateness p95 {pct(late, 0.95):4.1f} ms, max "
            f"{max(late, default=float('nan')):5.1f} ms (goals ≤ 16, ≤ 50)"
        )
    window.document.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    main()
