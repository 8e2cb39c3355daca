"""Start the desktop app."""

from __future__ import annotations

import sys
from pathlib import Path


def run(path: str | None = None) -> int:
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
