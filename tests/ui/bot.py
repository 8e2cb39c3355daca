"""The few qtbot calls the story helpers use, on QTest, for scripts that run the real app
without pytest (scripts/xvfb_story.py, bench/responsiveness.py)."""

from __future__ import annotations

import time


class Bot:
    """The few qtbot calls the story helpers use, on QTest (no pytest here)."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        self.QTest, self.Qt = QTest, Qt

    def _mouse(self, fn, widget, button, pos=None) -> None:
        if pos is None:
            pos = widget.rect().center()
        fn(widget, button, self.Qt.KeyboardModifier.NoModifier, pos)

    def mousePress(self, widget, button, pos=None) -> None:
        self._mouse(self.QTest.mousePress, widget, button, pos)

    def mouseRelease(self, widget, button, pos=None) -> None:
        self._mouse(self.QTest.mouseRelease, widget, button, pos)

    def mouseDClick(self, widget, button, pos=None) -> None:
        self._mouse(self.QTest.mouseDClick, widget, button, pos)

    def mouseClick(self, widget, button, pos=None) -> None:
        self._mouse(self.QTest.mouseClick, widget, button, pos)

    def mouseMove(self, widget, pos=None) -> None:
        self.QTest.mouseMove(widget, pos if pos is not None else widget.rect().center())

    def keyClick(self, widget, key, modifier=None) -> None:
        self.QTest.keyClick(widget, key, modifier or self.Qt.KeyboardModifier.NoModifier)

    def keyClicks(self, widget, text) -> None:
        self.QTest.keyClicks(widget, text)

    def waitUntil(self, condition, timeout: int = 60_000) -> None:
        """Runs the event loop (timers fire on time, as in the app) until ``condition``."""
        deadline = time.monotonic() + timeout / 1000
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the story step took too long")
            self.wait(10)

    def wait(self, ms: int) -> None:
        """A QEventLoop, as the app's own loop: it lets other Python threads run while it
        sleeps (QTest.qWait holds the GIL: a thread the app starts starved, 0.07 M loop
        turns a second against 15 M)."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()
