"""Autosave every 30 s to the user data folder, and recovery after a crash; recent files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer

from app.core.serialization import Project, ProjectFileError, load, save

ENV_DIR = "NETBUILDER_AUTOSAVE_DIR"
INTERVAL_MS = 30_000
MAX_RECENT = 8


def autosave_dir() -> Path:
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    import platformdirs

    return Path(platformdirs.user_data_dir("NetBuilder", appauthor=False)) / "autosave"


def autosave_path(document_path: Path | None, key: str) -> Path:
    """One autosave file per document: named after its file, or a session key if unsaved."""
    ident = str(document_path.resolve()) if document_path else key
    digest = hashlib.sha1(ident.encode()).hexdigest()[:12]
    stem = document_path.stem if document_path else "untitled"
    return autosave_dir() / f"{stem}-{digest}.json"


def recoverable() -> list[Path]:
    """Autosaves left behind by a session that did not close cleanly, newest first."""
    folder = autosave_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)


def recover(path: Path) -> Project:
    """Load an autosave (raises ProjectFileError if it is damaged)."""
    return load(path)


class Autosaver(QObject):
    """Saves the window's document when it has unsaved changes; removes the file on a clean
    close."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.key = f"session-{os.getpid()}-{id(window)}"
        self.timer = QTimer(self, interval=INTERVAL_MS)
        self.timer.timeout.connect(self.save_now)
        self.timer.start()
        self.current: Path | None = None

    def save_now(self) -> Path | None:
        document = self.window.document
        if not document.modified:
            return None
        target = autosave_path(document.path, self.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.current and self.current != target:
            self.current.unlink(missing_ok=True)
        try:
            save(document.project, target)
        except OSError as exc:
            self.window.statusBar().showMessage(f"autosave failed: {exc}")
            return None
        self.current = target
        return target

    def discard(self) -> None:
        """The document was saved or closed on purpose: its autosave is not needed."""
        if self.current:
            self.current.unlink(missing_ok=True)
            self.current = None


class RecentFiles:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or QSettings("NetBuilder", "NetBuilder")

    def paths(self) -> list[Path]:
        value = self.settings.value("recent", []) or []
        items = [value] if isinstance(value, str) else list(value)
        return [Path(p) for p in items if Path(p).exists()]

    def add(self, path: Path) -> None:
        items = [str(Path(path).resolve())]
        items += [str(p) for p in self.paths() if str(p) != items[0]]
        self.settings.setValue("recent", items[:MAX_RECENT])


__all__ = ["Autosaver", "ProjectFileError", "RecentFiles", "recover", "recoverable"]
