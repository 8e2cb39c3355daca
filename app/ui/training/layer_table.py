"""The Layers tab: per-layer gradient norm, weight norm and update/weight ratio of the last
report, the layers updating fastest (relative to their weights) first."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from app.core.training.events import LayerStat


class LayerTable(QTableWidget):
    def __init__(self) -> None:
        super().__init__(0, 4)
        self.setHorizontalHeaderLabels(["layer", "grad norm", "weight norm", "update/weight"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def show_stats(self, stats: Iterable[LayerStat]) -> None:
        rows = sorted(stats, key=lambda s: -s.update_ratio)
        self.setRowCount(len(rows))
        for row, s in enumerate(rows):
            values = [
                s.node_id,
                f"{s.grad_norm:.3g}",
                f"{s.weight_norm:.3g}",
                f"{s.update_ratio:.2e}",
            ]
            for col, text in enumerate(values):
                self.setItem(row, col, QTableWidgetItem(text))
