"""Training from the app vs a plain loop, finely interleaved in one run (the machines are noisy).

(a)  images/s of a plain PyTorch training loop in the main thread of its own interpreter, no Qt;
(b)  images/s of a run started from the app's training panel (LeNet-5, built-in data, live
     plots) with the engine in a child process (what the app uses);
(b') the same with the engine in a worker thread of the GUI process (the alternative);
and, during (b) and (b'), the lateness of a 10 ms heartbeat QTimer in the GUI thread.

How: this machine's speed drifts by ±20% within a minute, so comparing whole runs measured a
minute apart mostly measures the drift. Instead one long app run and one warm plain loop take
turns every couple of seconds: the app run trains SEGMENT steps, pauses (from the panel, as a
user would), the plain loop (a server process, model and data ready) trains SEGMENT steps, the
app run resumes, and so on. Each app segment is compared with the mean of the plain segments
just before and after it; the median of those ratios is reported. A segment's images/s is the
median of its per-20-step rates (the engine's reports; the report spanning a pause is dropped).

Goals: (b)/(a) ≥ 0.90 on CPU (≥ 0.97 on a GPU); heartbeat lateness p95 ≤ 16 ms, max ≤ 50 ms.
Usage: python bench/gui_training.py [--quick] [--mechanism process|thread|both]
                                    [--device auto|cpu|cuda] [--preset lenet5|resnet18_cifar|...]
(auto: CUDA when there is a GPU; both sides train on the same device.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import presets

# Qt is imported in main() only, never at the top: the app's training process (spawned)
# re-imports the main script, as it does the app's main.py, which imports no Qt either.
# Measured: with PySide6 and the GUI modules loaded in the training process it trained
# 5-15% slower (PySide6 also replaces builtins.__import__ with a slower hook).

BATCH = 128
REPORT = 20  # steps per engine report, and per plain-loop rate sample
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- (a)
class PlainLoop:
    """(a) in a server process: a fresh interpreter with no Qt (the GUI process must not hold
    torch: the app's never does), kept warm between segments."""

    def __init__(self, device: str, preset: str) -> None:
        code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.gui_training import "
        code += f"_serve_plain_loop; _serve_plain_loop({device!r}, {preset!r})"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._read()  # "ready"

    def _read(self) -> str:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("the plain-loop process died")
        return line.strip()

    def run(self, steps: int) -> float:
        self.proc.stdin.write(f"{steps}\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return float(self._read())

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(10)


def _serve_plain_loop(device: str, preset: str) -> None:
    """The compiled preset, SGD with momentum, pre-normalised tensors on ``device``, main
    thread. Reads a step count per line, trains that many steps, prints the median of the
    per-20-step rates (each ends with reading the loss, as the engine's reports do)."""
    import torch
    from torch import nn

    from app.core.compiler import compile_graph
    from app.core.training.portable.shapes import make_shapes

    torch.manual_seed(0)
    graph = presets.get(preset).build()
    channels, size, _ = _input_shape(graph)
    x, y = make_shapes(BATCH * 200, size, channels, seed=1)
    x, y = ((x - x.mean()) / x.std()).to(device), y.to(device)
    model = compile_graph(graph).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    batches = len(x) // BATCH
    i = 0

    def train(steps: int) -> list[float]:
        nonlocal i
        rates, start = [], time.perf_counter()
        for k in range(steps):
            j = i % batches
            xb, yb = x[j * BATCH : (j + 1) * BATCH], y[j * BATCH : (j + 1) * BATCH]
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            i += 1
            if (k + 1) % REPORT == 0:
                loss.item()
                now = time.perf_counter()
                rates.append(REPORT * BATCH / (now - start))
                start = now
        return rates

    train(2 * REPORT)  # warm up
    print("ready", flush=True)
    for line in sys.stdin:
        print(statistics.median(train(int(line))), flush=True)


def _input_shape(graph) -> tuple[int, int, int]:
    from app.core.shapes import check

    report = check(graph)
    return report.nodes[report.input_id].shape  # type: ignore[return-value]


def _resolve(device: str) -> str:
    """'auto' → cuda or cpu, asked in a subprocess (the app's GUI process never holds torch);
    'cuda' without a GPU ends the benchmark with a message."""
    if device == "cpu":
        return device
    code = "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    if device == "cuda" and found != "cuda":
        sys.exit("--device cuda: this machine has no CUDA GPU (torch.cuda.is_available() is False)")
    return found


# ----------------------------------------------------------------------------- (b)
class AppRun:
    """(b): one long run from the panel, trained in segments between pauses."""

    def __init__(
        self, window, mechanism: str, total_steps: int, device: str, channels: int
    ) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.window, self.panel = window, window.training
        self.panel.controller.mechanism = mechanism
        window.document.set_training(
            {
                "dataset": "shapes_gray" if channels == 1 else "shapes",
                "device": device,
                "train_size": BATCH * total_steps,
                "val_size": 256,
                "batch_size": BATCH,
                "epochs": 1,
                "report_every": REPORT,
            }
        )
        self.late: list[float] = []
        self.late_reporting: list[float] = []  # once the run reports (start-up excluded)
        self._clock = QElapsedTimer()
        self._heartbeat = QTimer(interval=10)
        self._heartbeat.timeout.connect(self._beat)
        self._paused = False
        self._loop = None
        self._condition = lambda: True
        self.panel.controller.records.connect(self._records)
        self.panel.controller.running_changed.connect(self._check)

    def _beat(self) -> None:
        if self._clock.isValid():
            self.late.append(max(0.0, self._clock.nsecsElapsed() / 1e6 - 10.0))
            if self.reports() >= 2:
                self.late_reporting.append(self.late[-1])
            if self.late[-1] > 25 and os.environ.get("BENCH_VERBOSE"):
                into = time.perf_counter() - self._segment_start
                print(f"  heartbeat {self.late[-1]:.0f} ms late, {into:.2f} s into the segment")
        self._clock.restart()

    def _records(self, batch: list) -> None:
        from app.core.training.events import Paused

        if any(isinstance(r, Paused) for r in batch):
            self._paused = True
        self._check()

    def _check(self, *_args) -> None:
        if self._loop is not None and self._condition():
            self._loop.quit()

    def _wait(self, condition, timeout_s: float = 120.0) -> None:
        """Run the real event loop (it sleeps when there is nothing to do) until records make
        ``condition`` true; no polling timer (its wake-ups would cost the training)."""
        from PySide6.QtCore import QEventLoop, QTimer

        if condition():
            return
        self._loop, self._condition = QEventLoop(), condition
        timeout = QTimer(singleShot=True, interval=int(timeout_s * 1000))
        timeout.timeout.connect(self._loop.quit)
        timeout.start()
        self._loop.exec()
        timeout.stop()
        self._loop = None
        if not condition():
            raise RuntimeError("the app run did not get there in time")

    def reports(self) -> int:
        m = self.panel.metrics
        return 0 if m is None else len(m.throughput)

    def segment(self, steps: int, first: bool = False) -> float:
        """Train ``steps`` more steps (starting or resuming the run), then pause; the median
        images/s of the reports that lie wholly inside the segment."""
        self._segment_start = time.perf_counter()
        start = 0 if first else self.reports()
        self._paused = False
        self._clock.invalidate()
        self._heartbeat.start()
        if first:
            self.panel.start()
        else:
            self.panel.resume()
        want = start + steps // REPORT
        self._wait(lambda: self.reports() >= want)
        self._heartbeat.stop()
        self.panel.pause()
        self._wait(lambda: self._paused)
        rates = list(self.panel.metrics.throughput.values[start + 1 : want])
        return statistics.median(rates)

    def finish(self) -> None:
        self.panel.stop()
        self._wait(lambda: not self.panel.controller.running)
        self.panel.controller.records.disconnect(self._records)
        self.panel.controller.running_changed.disconnect(self._check)


def measure(window, plain: PlainLoop, mechanism: str, segments: int, steps: int, device: str):
    channels = _input_shape(window.document.project.graph)[0]
    run = AppRun(window, mechanism, (segments + 2) * steps, device, channels)
    a = [plain.run(steps)]
    ratios, rates = [], []
    for k in range(segments):
        rates.append(run.segment(steps, first=k == 0))
        a.append(plain.run(steps))
        ratios.append(rates[-1] / ((a[-2] + a[-1]) / 2))
        if os.environ.get("BENCH_VERBOSE"):
            print(f"  a {a[-2]:7.0f}  b {rates[-1]:7.0f}  a {a[-1]:7.0f}  ratio {ratios[-1]:.3f}")
    run.finish()
    return ratios, rates, a, run.late, run.late_reporting


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter segments")
    parser.add_argument("--mechanism", choices=("process", "thread", "both"), default="both")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--preset", default="lenet5", help="a preset id (python main.py presets)")
    args = parser.parse_args()
    device = _resolve(args.device)
    goal = 0.90 if device == "cpu" else 0.97
    segments, steps = (6, 120) if args.quick else (16, 200)
    mechanisms = ("process", "thread") if args.mechanism == "both" else (args.mechanism,)
    os.environ["NETBUILDER_RUNS_DIR"] = tempfile.mkdtemp(prefix="netbuilder-bench-")
    from PySide6.QtWidgets import QApplication

    from app.core.serialization import Project
    from app.ui.document import Document
    from app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    graph = presets.get(args.preset).build()
    window = MainWindow(Document(Project(graph, f"{args.preset} bench")))
    window.resize(1400, 900)
    window.show()
    window.docks["Training"].raise_()
    app.processEvents()
    plain = PlainLoop(device, args.preset)
    print(
        f"{os.cpu_count()} CPUs, device {device}; {args.preset}, batch {BATCH}; {segments} app "
        f"segments of {steps} "
        "steps, each between plain-loop segments of the same length"
    )
    try:
        for mechanism in mechanisms:  # thread last: it loads torch into this process
            ratios, rates, a, late, steady = measure(
                window, plain, mechanism, segments, steps, device
            )
            name = {
                "process": "(b)  engine in a child process",
                "thread": "(b') engine in a thread",
            }
            print(
                f"{name[mechanism]:32} {statistics.median(rates):7.0f} img/s vs (a) "
                f"{statistics.median(a):7.0f}   ratio median {statistics.median(ratios):.3f} "
                f"[{min(ratios):.2f}–{max(ratios):.2f}] (goal ≥ {goal:.2f})   heartbeat lateness "
                f"p95 {pct(late, 0.95):4.1f} ms, max {max(late, default=float('nan')):5.1f} ms "
                f"(goals ≤ 16, ≤ 50; once reporting: max {max(steady, default=float('nan')):.1f})",
                flush=True,
            )
    finally:
        plain.close()
        window.document.undo_stack.setClean()
        window.close()


if __name__ == "__main__":
    main()
