"""Where file dialogs start: the folder last used (else Documents, else home), and a file
name made from the project's name, so Save and Export never open in the app's own folder
with an empty name."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

_KEY = "dialogs/last_folder"


def last_folder() -> Path:
    stored = QSettings("NetBuilder", "NetBuilder").value(_KEY, "")
    if stored and Path(str(stored)).is_dir():
        return Path(str(stored))
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(documents) if documents and Path(documents).is_dir() else Path.home()


def remember(path: str | Path) -> None:
    """Call with the path a dialog returned: the next dialog starts in its folder."""
    QSettings("NetBuilder", "NetBuilder").setValue(_KEY, str(Path(path).parent))


def suggested(name: str, suffix: str, folder: Path | None = None) -> str:
    """``<folder>/<name as a file name><suffix>``, e.g. ~/Documents/LeNet-5_weights.pt."""
    stem = re.sub(r"[^\w.-]+", "_", name.strip()).strip("._") or "network"
    return str((folder or last_folder()) / f"{stem}{suffix}")
