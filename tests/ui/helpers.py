"""The window as a user meets it, for the GUI tests."""

from __future__ import annotations

from app.ui.app import default_document
from app.ui.main_window import MainWindow


def open_window(qtbot, size=(1400, 900), *, active=False, document=None) -> MainWindow:
    """The main window with LeNet-5 (or ``document``), shown at ``size`` (top-left at 0, 0,
    as without a window manager); ``active``: also the active window, so shortcuts reach it.
    Closing never asks (no modal dialogs in tests)."""
    win = MainWindow(document or default_document())
    win.confirm_discard = lambda: True
    win.confirm_stop_training = lambda: True
    qtbot.addWidget(win)
    win.setGeometry(0, 0, *size)
    if active:
        with qtbot.waitActive(win):
            win.show()
            win.activateWindow()
    else:
        win.show()
        qtbot.waitExposed(win)
    return win
