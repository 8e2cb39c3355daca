"""Start the desktop app."""

from __future__ import annotations

import sys
from pathlib import Path

#: what Qt's xcb platform plugin loads beyond Qt itself: library name → Debian/Ubuntu package
XCB_LIBRARIES = {
    "xcb-cursor": "libxcb-cursor0",
    "xkbcommon-x11": "libxkbcommon-x11-0",
    "xcb-icccm": "libxcb-icccm4",
    "xcb-keysyms": "libxcb-keysyms1",
    "xcb-image": "libxcb-image0",
    "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0",
    "xcb-randr": "libxcb-randr0",
    "EGL": "libegl1",
}


def missing_display_packages() -> list[str]:
    """The packages to install before the window can open on X11 (empty when none are
    missing, or when Qt will not use its xcb plugin: offscreen, Wayland, macOS, Windows)."""
    import ctypes.util
    import os

    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb"):
        return []
    if os.environ.get("NETBUILDER_SKIP_XCB_CHECK"):  # libraries ldconfig does not list
        return []
    if not platform and not os.environ.get("DISPLAY"):
        return []  # no X server: Qt will say so itself
    return [pkg for lib, pkg in XCB_LIBRARIES.items() if ctypes.util.find_library(lib) is None]


def run(path: str | None = None) -> int:
    missing = missing_display_packages()
    if missing:  # Qt would abort with "Could not load the Qt platform plugin xcb"
        print(
            "NetBuilder's window needs system libraries that are missing here. Install them "
            f"with:\n\n    sudo apt-get install {' '.join(missing)}\n\n(the command line "
            "works without them: python main.py --help; if they are installed where ldconfig "
            "does not look, set NETBUILDER_SKIP_XCB_CHECK=1)",
            file=sys.stderr,
        )
        return 2
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("NetBuilder")
    from app.ui.main_window import MainWindow

    window = MainWindow(default_document())
    window.show()
    if path and path.startswith("presets:"):
        import presets

        try:
            window.open_preset(path.removeprefix("presets:"))
        except presets.UnknownPresetError as exc:
            window.statusBar().showMessage(str(exc))
    elif path:
        window.open_path(Path(path))
    else:
        window.offer_recovery()
    return app.exec()


def default_document():
    """LeNet-5, so a new user sees a working network at once."""
    import presets
    from app.ui.document import Document

    return Document(presets.get("lenet5").project())
