"""How long each user action stalls the window's event loop (issue 24).

    python bench/responsiveness.py [--repeat N] [--compare CHECKOUT] [--why MS]

Offscreen unless QT_QPA_PLATFORM is set. --compare runs the same bench in another checkout
(e.g. a git worktree of an older commit, with this file and tests/ui/bot.py copied in), rounds
taken in turn, so both tables come from the same minutes of this noisy machine.

A heartbeat QTimer (every 5 ms) runs in the GUI thread while the real window is driven with
input events (keys, clicks on tabs; the presets dialog answered as a user would): open the
presets dialog, open a preset, the first look at the Training tab, the first F5, switching tabs
during a run, Stop, open ResNet-152, auto-layout it, undo, delete everything and undo, a
finished run's code export, opening another preset during a run (the run stops first) and
closing the window during a run. An action's *stall* is the
longest gap between two beats that ended while the action ran (less the 5 ms interval): the
time the window could not repaint or take input. File dialogs are answered without showing
(the bench measures the app, not Qt's dialog). Prints a table: action, max stall, p95 of the
gaps, how long the action took. Goal (issue 24): every max stall ≤ 50 ms.

tests/ui/test_responsiveness.py runs the same actions in CI and checks that each completes and
is measured (no timing assertion there).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INTERVAL_MS = 5
SHORT_RUN = {
    "dataset": "shapes_gray",
    "train_size": 512,
    "val_size": 128,
    "batch_size": 64,
    "epochs": 1,
}
LONG_RUN = {**SHORT_RUN, "epochs": 50, "train_size": 4096}


@dataclass
class Stall:
    action: str
    max_ms: float  # the longest the loop did not turn
    p95_ms: float
    seconds: float  # from the input event to the action's end
    beats: int


class StallMeter:
    """A heartbeat in the GUI thread: each beat notes how late it came. ``begin``/``end``
    bracket an action; the action's stall is the longest lateness of the beats that came
    while it ran (a handler that runs 800 ms delays the next beat by 800 ms)."""

    def __init__(self, interval_ms: int = INTERVAL_MS) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)
        self._last = 0.0
        self._late: list[float] = []
        self.gaps: list[tuple[str, float, float]] = []  # (action, start, end) of gaps > 30 ms
        self._name: str | None = None
        self._began = 0.0
        self.results: list[Stall] = []

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _beat(self) -> None:
        now = time.perf_counter()
        if self._name is not None:
            self._late.append(max(0.0, (now - self._last) * 1000 - self.interval))
            if self._late[-1] > 30:
                self.gaps.append((self._name, self._last, now))
        self._last = now

    def begin(self, name: str) -> None:
        if self._name is not None:
            self.end()
        self._name, self._late, self._began = name, [], time.perf_counter()

    def end(self) -> Stall | None:
        """Close the current action (a synchronous handler's gap is counted: it ends at the
        first beat after it, so call this once the loop has turned)."""
        if self._name is None:
            return None
        gaps = sorted(self._late) or [0.0]
        stall = Stall(
            self._name,
            gaps[-1],
            gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))],
            time.perf_counter() - self._began,
            len(self._late),
        )
        self.results.append(stall)
        self._name = None
        return stall


class Actions:
    """The user actions, each with real input events; ``bot`` is pytest-qt's qtbot or
    tests/ui/bot.Bot. Every action waits until it is done, then for the loop to settle."""

    def __init__(self, bot, meter: StallMeter, scratch: Path) -> None:
        self.bot, self.meter, self.scratch = bot, meter, scratch
        self.win = None

    # ---------------------------------------------------------------- helpers
    def _settle(self, ms: int = 150) -> None:
        self.bot.wait(ms)  # the loop turns: a stall that just ended is counted

    def measure(self, name: str, act, done=lambda: True, timeout_s: float = 120) -> Stall:
        self._settle(50)
        self.meter.begin(name)
        act()
        self.bot.waitUntil(done, timeout=int(timeout_s * 1000))
        self._settle()
        return self.meter.end()  # type: ignore[return-value]

    def key(self, sequence: str) -> None:
        from tests.ui.test_story import key

        key(self.bot, self.win, sequence)

    def click_tab(self, bar, text: str) -> None:
        from PySide6.QtCore import Qt

        index = next(i for i in range(bar.count()) if bar.tabText(i).replace("&", "") == text)
        self.bot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())

    def dock_tab_bar(self, text: str):
        from PySide6.QtWidgets import QTabBar

        for bar in self.win.findChildren(QTabBar):
            if any(bar.tabText(i) == text for i in range(bar.count())):
                return bar
        raise LookupError(f"no dock tab {text!r}")

    def focus_canvas(self) -> None:
        self.win.activateWindow()
        self.bot.waitUntil(self.win.isActiveWindow, timeout=10_000)
        self.win.view.setFocus()

    def from_presets_dialog(self, preset: str, title: str) -> None:
        """Ctrl+Shift+N, then the preset chosen in the dialog with the keyboard: two actions
        (the dialog opening, the preset opening)."""
        from PySide6.QtCore import Qt, QTimer
        from PySide6.QtWidgets import QApplication

        from app.ui.presets_dialog import PresetsDialog

        opened = []
        before = self.win.document

        def choose() -> None:
            dialog = QApplication.activeModalWidget()
            if not isinstance(dialog, PresetsDialog) or not dialog.isVisible():
                QTimer.singleShot(20, choose)
                return
            self._settle()
            self.meter.end()
            dialog.select(preset)  # as the arrow keys would: its preview is drawn
            self._settle()
            self.meter.begin(f"open {title} from the dialog (Return)")
            opened.append(True)
            self.bot.keyClick(dialog.list, Qt.Key.Key_Return)

        self.focus_canvas()
        self._settle(50)
        QTimer.singleShot(0, choose)
        self.meter.begin(f"open the presets dialog (Ctrl+Shift+N) for {title}")
        self.key("Ctrl+Shift+N")  # returns when the dialog has closed
        self.bot.waitUntil(lambda: opened and self.win.document is not before, timeout=60_000)
        self._settle()
        self.meter.end()

    def _start_long_run(self) -> None:
        win, panel = self.win, self.win.training
        win.document.set_training(dict(LONG_RUN))
        win.document.undo_stack.setClean()
        self.focus_canvas()
        self.key("F5")
        self.bot.waitUntil(
            lambda: panel.metrics is not None and panel.metrics.last is not None,
            timeout=120_000,
        )

    # ---------------------------------------------------------------- the story
    def run(self, make_window) -> list[Stall]:
        """``make_window()`` returns a shown, active MainWindow with LeNet-5."""
        from app.ui import file_names

        win = self.win = make_window()
        panel = win.training
        self.bot.wait(1500)  # a person looks at the window before the first click
        self.meter.start()
        try:
            self.from_presets_dialog("resnet18_cifar", "ResNet-18 (CIFAR)")
            self.from_presets_dialog("lenet5", "LeNet-5")
            win.document.set_training(dict(LONG_RUN))
            win.document.undo_stack.setClean()
            self.measure(
                "first look at the Training tab",
                lambda: self.click_tab(self.dock_tab_bar("Training"), "Training"),
                lambda: panel.isVisible(),
            )
            self.focus_canvas()
            self.measure(
                "start training (first F5) to the first report",
                lambda: self.key("F5"),
                lambda: panel.metrics is not None and panel.metrics.last is not None,
            )
            tabs = panel.tabs.tabBar()

            def switch_tabs() -> None:
                for name in ("Settings", "Layers", "History", "Results", "Curves"):
                    self.click_tab(tabs, name)
                    self.bot.wait(30)

            self.measure("switch the panel's tabs during a run", switch_tabs)
            self.focus_canvas()
            self.measure(
                "stop (Shift+F5) until the controls are free",
                lambda: self.key("Shift+F5"),
                lambda: not panel.controller.running,
            )
            # a finished run, then its code exported from Results
            win.document.set_training(dict(SHORT_RUN))
            self.focus_canvas()
            self.key("F5")
            self.bot.waitUntil(lambda: panel.results is not None, timeout=120_000)
            self.bot.waitUntil(lambda: not panel.controller.running, timeout=30_000)
            target = self.scratch / "exported_lenet5.py"
            messages: list[str] = []
            panel.message.connect(messages.append)
            answer = file_names.ask_save
            file_names.ask_save = lambda *a, **k: str(target)
            try:
                self.click_tab(tabs, "Results")
                self.measure(
                    "export code from Results until written",
                    lambda: self.bot.mouseClick(panel.results_tab.buttons["code"], _left()),
                    lambda: any(m.startswith(("exported", "cannot")) for m in messages),
                )
            finally:
                file_names.ask_save = answer
            # a large network
            self.from_presets_dialog("resnet152", "ResNet-152")
            self.focus_canvas()
            self.measure("auto-layout ResNet-152 (Ctrl+L)", lambda: self.key("Ctrl+L"))
            self.focus_canvas()
            self.measure("undo the auto-layout (Ctrl+Z)", lambda: self.key("Ctrl+Z"))
            self.focus_canvas()

            def delete_all() -> None:
                self.key("Ctrl+A")
                self.key("Delete")

            count = len(win.document.graph.nodes)
            self.measure(
                "select all and delete ResNet-152 (Ctrl+A, Delete)",
                delete_all,
                lambda: not win.document.graph.nodes,
            )
            self.focus_canvas()
            self.measure(
                "undo the delete (Ctrl+Z)",
                lambda: self.key("Ctrl+Z"),
                lambda: len(win.document.graph.nodes) == count,
            )
            # another document during a run (the run stops first), then close during a run
            self.from_presets_dialog("lenet5", "LeNet-5 again")
            self._start_long_run()
            self.from_presets_dialog("lenet5", "LeNet-5 mid-run")
            self._start_long_run()
            self.focus_canvas()
            self.measure(
                "close the window during a run (Ctrl+Q) until it is gone",
                lambda: self.key("Ctrl+Q"),
                lambda: not win.isVisible() and not panel.controller.running,
                timeout_s=60,
            )
        finally:
            self.meter.stop()
        return self.meter.results


class StackSampler(threading.Thread):
    """--why: samples the GUI thread's stack every 2 ms, to say what ran during a stall."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.main = threading.main_thread().ident
        self.samples: list[tuple[float, list[str]]] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            frame = sys._current_frames().get(self.main)
            stack = []
            while frame is not None:  # no linecache: the sampler must not load the GIL
                code = frame.f_code
                stack.append(f"{code.co_filename}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), stack[::-1]))
            del frame
            time.sleep(0.002)

    def explain(self, gaps: list[tuple[str, float, float]]) -> str:
        """For each stall, where the GUI thread was: the innermost frame of the app's own
        code (app/, blocks/, presets/) and the innermost frame of all, by sample count."""
        from collections import Counter

        ours = ("/app/", "/blocks/", "/presets/")
        lines = []
        for action, start, end in gaps:
            inside = [stack for t, stack in self.samples if start <= t <= end]
            lines.append(f"{(end - start) * 1000:.0f} ms in {action!r}: {len(inside)} samples")
            own = Counter(
                next((f for f in reversed(stack) if any(o in f for o in ours)), "(not the app)")
                for stack in inside
            )
            inner = Counter(stack[-1] for stack in inside)
            if os.environ.get("BENCH_TIMELINE"):  # each sample: ms into the gap, where
                for t, stack in self.samples:
                    if start <= t <= end:
                        where = [f.split("/")[-1] for f in stack if any(o in f for o in ours)]
                        lines.append(f"   {(t - start) * 1000:5.0f} ms  {' > '.join(where[-3:])}")
            lines += [f"  {n:3d}x app  {f}" for f, n in own.most_common(4)]
            lines += [f"  {n:3d}x leaf {f}" for f, n in inner.most_common(3)]
        return "\n".join(lines)


def _left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def table(rounds: list[list[Stall]]) -> str:
    """Action, max stall (the worst over the rounds), p95 and duration (medians)."""
    width = max(len(s.action) for s in rounds[0])
    lines = [f"{'action':{width}} {'max stall':>10} {'p95':>7} {'took':>7}"]
    for i, first in enumerate(rounds[0]):
        rows = [r[i] for r in rounds]
        worst = max(r.max_ms for r in rows)
        p95 = statistics.median(r.p95_ms for r in rows)
        took = statistics.median(r.seconds for r in rows)
        flag = "" if worst <= 50 else "  > 50 ms"
        lines.append(f"{first.action:{width}} {worst:8.0f} ms {p95:4.0f} ms {took:6.2f} s{flag}")
    return "\n".join(lines)


def one_round(why: float = 0) -> list[Stall]:
    from PySide6.QtWidgets import QApplication

    from app.ui.app import default_document
    from app.ui.main_window import MainWindow
    from tests.ui.bot import Bot

    app = QApplication.instance() or QApplication(sys.argv)
    bot = Bot()

    def make_window():
        win = MainWindow(default_document())
        win.confirm_discard = lambda: True
        win.confirm_stop_training = lambda: True
        win.setGeometry(0, 0, 1400, 900)
        win.show()
        win.activateWindow()
        bot.waitUntil(win.isActiveWindow, 10_000)
        app.processEvents()
        return win

    sampler = StackSampler() if why else None
    if sampler:
        sampler.start()
    meter = StallMeter()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NETBUILDER_RUNS_DIR"] = str(Path(tmp) / "runs")
        results = Actions(bot, meter, Path(tmp)).run(make_window)
    if sampler:
        sampler.running = False
        print(sampler.explain([g for g in meter.gaps if g[2] - g[1] > why / 1000]), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds in fresh processes (max of the maxima)"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--compare", metavar="CHECKOUT", help="also run the bench in CHECKOUT, rounds in turn"
    )
    parser.add_argument(
        "--why", type=float, default=0, metavar="MS",
        help="one round here, printing the GUI thread's stack during each stall over MS",
    )  # fmt: skip
    args = parser.parse_args()
    if args.why:
        print(table([one_round(args.why)]))
        return
    if args.one:  # a round in this process: print the rows for the parent
        for s in one_round():
            print(f"ROW\t{s.action}\t{s.max_ms}\t{s.p95_ms}\t{s.seconds}\t{s.beats}", flush=True)
        return
    import subprocess

    def one(script: Path) -> list[Stall]:  # in a fresh process: the first F5 is a first
        out = subprocess.run(
            [sys.executable, str(script), "--one"], capture_output=True, text=True, check=True,
            cwd=script.parents[1],
        ).stdout  # fmt: skip
        rows = [line.split("\t")[1:] for line in out.splitlines() if line.startswith("ROW\t")]
        return [Stall(a, float(m), float(p), float(s), int(b)) for a, m, p, s, b in rows]

    trees = [Path(__file__).resolve()]
    if args.compare:  # the same bench in another checkout, rounds taken in turn
        trees.append(Path(args.compare).resolve() / "bench" / "responsiveness.py")
    rounds: list[list[list[Stall]]] = [[] for _ in trees]
    for _ in range(args.repeat):
        for i, script in enumerate(trees):
            rounds[i].append(one(script))
    print(f"platform {os.environ['QT_QPA_PLATFORM']}, heartbeat every {INTERVAL_MS} ms, "
          f"{args.repeat} round(s) each, in turn")  # fmt: skip
    for script, taken in zip(trees, rounds, strict=True):
        print(f"\n{script.parents[1]}:")
        print(table(taken))


if __name__ == "__main__":
    main()
