"""The Layers tab: per-layer gradient norm, weight norm and update/weight ratio of the last
report, the layers updating fastest (relative to their weights) first; with the
``activation_histograms`` setting, each layer's outputs as a small histogram on a log scale
(negative values on the left, |x| < 0.001 in the middle, positive on the right)."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from app.core.training.events import HISTOGRAM_BINS, LayerStat

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(shares: tuple[float, ...]) -> str:
    """One character a bin, its height the bin's share (relative to the largest)."""
    top = max(shares, default=0.0)
    if top <= 0:
        return ""
    return "".join(_BARS[round(v / top * (len(_BARS) - 1))] for v in shares)


class LayerTable(QTableWidget):
    def __init__(self) -> None:
        super().__init__(0, 5)
        self.setHorizontalHeaderLabels(
            ["layer", "grad norm", "weight norm", "update/weight", "activations"]
        )
        self.horizontalHeaderItem(4).setToolTip(
            "The layer's outputs at the last report, a bar per bin: "
            + ", ".join(HISTOGRAM_BINS)
            + " (the activation_histograms setting, Runtime)"
        )
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
                sparkline(s.histogram),
            ]
            for col, text in enumerate(values):
                self.setItem(row, col, QTableWidgetItem(text))
