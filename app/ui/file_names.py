"""The file dialogs: where they start (the folder last used, else Documents, else home), a
file name made from the project's name (Save and Export never open in the app's own folder
with an empty name), and, where the desktop offers no dialog of its own and Qt draws one, a
file list whose columns show their whole text (it showed "344…tes")."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QHeaderView, QTreeView, QWidget

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


def dialog(parent: QWidget | None, title: str, start: str, filters: str, save: bool) -> QFileDialog:
    """A Save (``save``) or Open dialog at ``start`` (a file's path, or a folder)."""
    box = QFileDialog(parent, title, str(Path(start).parent if save else start), filters)
    box.setAcceptMode(
        QFileDialog.AcceptMode.AcceptSave if save else QFileDialog.AcceptMode.AcceptOpen
    )
    if save:
        box.selectFile(Path(start).name)
    else:
        box.setFileMode(QFileDialog.FileMode.ExistingFile)
    # Qt's own dialog (no desktop dialog, e.g. on a bare X11 server): the name column takes
    # the room left, size/type/date are as wide as their text, in a window wide enough
    views = box.findChildren(QTreeView)
    for view in views:
        header = view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    if views:
        box.resize(max(box.width(), 820), max(box.height(), 480))
    return box


def _ask(parent, title, start, filters, save) -> str:
    box = dialog(parent, title, start, filters, save)
    if not box.exec() or not box.selectedFiles():
        return ""
    path = box.selectedFiles()[0]
    remember(path)
    return path


def ask_save(parent: QWidget | None, title: str, start: str, filters: str) -> str:
    """The path chosen to save to (its folder remembered), or "" when cancelled."""
    return _ask(parent, title, start, filters, save=True)


def ask_open(parent: QWidget | None, title: str, filters: str) -> str:
    """The file chosen to open, starting in the last folder, or "" when cancelled."""
    return _ask(parent, title, str(last_folder()), filters, save=False)
