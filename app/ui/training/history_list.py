"""The History tab: the earlier runs of this project, ticked to overlay their curves."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from app.core.training.paths import default_runs_root


class RunHistoryList(QListWidget):
    overlays_changed = Signal(list)  # [RunMetrics] of the ticked runs

    def __init__(self) -> None:
        super().__init__()
        self.itemChanged.connect(self._toggled)

    def load(self, project_name: str) -> None:
        """List the project's runs, newest first (none ticked)."""
        from app.core.training.rundir import RunDir

        self.blockSignals(True)
        self.clear()
        for path in reversed(RunDir.of_project(default_runs_root(), project_name)):
            item = QListWidgetItem(RunDir(path, create=False).summary())
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(f"{path}\ntick to overlay its curves on this run's")
            self.addItem(item)
        self.blockSignals(False)

    def ticked(self) -> list[str]:
        """The ticked runs' folders, oldest first (the first is a comparison's reference)."""
        out = [
            self.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.count())
            if self.item(i).checkState() == Qt.CheckState.Checked
        ]
        return out[::-1]

    def _toggled(self, _item: QListWidgetItem) -> None:
        from app.core.training.metrics import RunMetrics
        from app.core.training.rundir import RunDir

        chosen = []
        for i in range(self.count()):
            if self.item(i).checkState() == Qt.CheckState.Checked:
                path = Path(self.item(i).data(Qt.ItemDataRole.UserRole))
                run = RunMetrics.from_run_dir(path)
                run.name = RunDir(path, create=False).label()  # its name in the key
                chosen.append(run)
        self.overlays_changed.emit(chosen)
