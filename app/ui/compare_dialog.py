"""The comparison of runs: which configuration did better and by more than the seed spread
(mean ± 95% interval, Welch's difference from the first), the settings that differ, the
curves side by side, each swept quantity against the metric, and the graph diff drawn on a
read-only canvas. Reads run folders only (no torch); the table exports to CSV."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.experiments.compare import Comparison, compare
from app.core.experiments.runs import METRICS, RunRecord, read_run, smoothed
from app.core.experiments.space import value_text
from app.core.graph_diff import diff_graphs, overlay
from app.core.layout import layered_layout
from app.core.serialization import Project
from app.ui.canvas import GraphScene, GraphView
from app.ui.document import Document

GROUP_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
DIFFERS = QColor("#fff3c4")  # a setting that differs from the first run's
CURVES = {
    "val_acc": "validation accuracy",
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "train_acc": "training accuracy",
    "step_loss": "training loss per step (smoothed)",
}


def load_runs(folders: list[str]) -> tuple[list[RunRecord], list[str]]:
    """The run folders that can be read, and a line for each that cannot."""
    runs, problems = [], []
    for folder in folders:
        try:
            runs.append(read_run(folder))
        except ValueError as exc:
            problems.append(str(exc))
    return runs, problems


class CompareDialog(QDialog):
    def __init__(self, runs: list[RunRecord], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare {len(runs)} runs")
        self.runs = runs
        self.comparison: Comparison = compare(runs)
        self.metric_choice = QComboBox()
        for m in METRICS.values():
            self.metric_choice.addItem(m.title, m.name)
        self.threshold = QDoubleSpinBox(minimum=0.01, maximum=1.0, singleStep=0.05, value=0.8)
        self.threshold.setPrefix("epochs to ")
        self.threshold.setToolTip("Validation accuracy a run must reach (epochs-to column)")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_csv)
        head = QHBoxLayout()
        head.addWidget(QLabel("Metric"))
        head.addWidget(self.metric_choice)
        head.addWidget(self.threshold)
        head.addStretch(1)
        head.addWidget(self.export_button)
        self.tabs = QTabWidget()
        self.groups = _table()
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        summary = QWidget()
        summary_layout = QVBoxLayout(summary)
        summary_layout.addWidget(self.verdict)
        summary_layout.addWidget(self.groups)
        self.settings = _table()
        self.all_settings = QCheckBox("Show every setting")
        self.all_settings.toggled.connect(self._fill_settings)
        settings_page = QWidget()
        settings_layout = QVBoxLayout(settings_page)
        settings_layout.addWidget(self.all_settings)
        settings_layout.addWidget(self.settings)
        self.curve = QComboBox()
        for key, title in CURVES.items():
            self.curve.addItem(title, key)
        self.curve.currentIndexChanged.connect(self._fill_curves)
        self.curves = pg.PlotWidget(background="w")
        self.curves.addLegend(offset=(-10, 10), labelTextColor="#333", brush=(255, 255, 255, 210))
        self.curves.setLabel("bottom", "epoch")
        self.curves.getAxis("left").enableAutoSIPrefix(False)
        curves_page = QWidget()
        curves_layout = QVBoxLayout(curves_page)
        curves_layout.addWidget(self.curve)
        curves_layout.addWidget(self.curves)
        self.axis = QComboBox()
        self.axis.currentIndexChanged.connect(self._fill_scatter)
        self.scatter = pg.PlotWidget(background="w")
        self.scatter.getAxis("left").enableAutoSIPrefix(False)  # accuracy, not ×0.001
        scatter_page = QWidget()
        scatter_layout = QVBoxLayout(scatter_page)
        scatter_layout.addWidget(self.axis)
        scatter_layout.addWidget(self.scatter)
        self.diff_run = QComboBox()
        self.diff_run.currentIndexChanged.connect(self._fill_diff)
        self.diff_lines = QListWidget()
        self.diff_scene: GraphScene | None = None
        self.diff_view = QWidget()
        QVBoxLayout(self.diff_view).setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.diff_lines)
        split.addWidget(self.diff_view)
        split.setStretchFactor(1, 3)
        graph_page = QWidget()
        graph_layout = QVBoxLayout(graph_page)
        graph_layout.addWidget(self.diff_run)
        graph_layout.addWidget(split)
        self.tabs.addTab(summary, "Configurations")
        self.tabs.addTab(settings_page, "Settings")
        self.tabs.addTab(curves_page, "Curves")
        self.tabs.addTab(scatter_page, "Parameter vs Metric")
        self.tabs.addTab(graph_page, "Graph Diff")
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.tabs)
        self.metric_choice.currentIndexChanged.connect(self.refresh)
        self.threshold.valueChanged.connect(self.refresh)
        self.resize(1000, 640)
        self.refresh()
        self._fill_diff_choices()
        self.tabs.currentChanged.connect(lambda: QTimer.singleShot(0, self, self._fit_diff))

    # ------------------------------------------------------------------ data
    def refresh(self) -> None:
        self.comparison = compare(
            self.runs, self.metric_choice.currentData(), self.threshold.value()
        )
        self._fill_groups()
        self._fill_settings()
        self._fill_curves()
        self._fill_axes()

    def _group_of(self, run: RunRecord) -> int:
        return next(i for i, g in enumerate(self.comparison.groups) if run in g.runs)

    def _fill_groups(self) -> None:
        c = self.comparison
        metric = METRICS[c.metric]
        headers = [
            "Configuration",
            "Runs",
            f"{metric.title} (mean ± 95%)",
            f"Epochs to {c.threshold:.0%}",
            "Against the first",
        ]
        self.groups.clear()
        self.groups.setColumnCount(len(headers))
        self.groups.setHorizontalHeaderLabels(headers)
        self.groups.setRowCount(len(c.groups))
        clear_ones = []
        for row, (group, diff) in enumerate(zip(c.groups, c.differences(), strict=True)):
            iv = group.interval(c.metric)
            reached = [e for e in group.epochs_to if e is not None]
            if reached and len(reached) == len(group.epochs_to):
                epochs = f"{sum(reached) / len(reached):.1f}"
            else:
                epochs = f"{len(reached)} of {len(group.epochs_to)} reached it"
            versus = (
                "reference" if row == 0 else (diff.text(percent=metric.percent) if diff else "—")
            )
            cells = [
                group.label,
                str(len(group.runs)),
                iv.text(percent=metric.percent) if iv else "—",
                epochs,
                versus,
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setForeground(QColor(GROUP_COLOURS[row % len(GROUP_COLOURS)]))
                if diff is not None and diff.clear and column == 4:
                    better = metric.better(diff.delta, 0.0)
                    item.setForeground(QColor("#2e7d32" if better else "#c62828"))
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                self.groups.setItem(row, column, item)
            if diff is not None and diff.clear:
                clear_ones.append(group.label)
        self.groups.resizeColumnsToContents()
        if len(c.groups) < 2:
            text = "One configuration: the interval is the seed spread of its runs."
        elif all(len(g.runs) < 2 for g in c.groups):
            text = (
                "One run per configuration: no interval. Repeat each over two seeds or "
                "more to tell a difference from seed noise."
            )
        elif clear_ones:
            others = len(c.groups) - 1 - len(clear_ones)
            text = (
                f"Beyond the seed spread against {c.groups[0].label}: "
                + "; ".join(clear_ones)
                + (". The others are within it." if others else ".")
            )
        else:
            text = (
                f"No configuration differs from {c.groups[0].label} by more than the "
                "seed spread: run more seeds to tell them apart."
            )
        self.verdict.setText(text)

    def _fill_settings(self) -> None:
        c = self.comparison
        names = (
            list(c.settings)
            if self.all_settings.isChecked()
            else [n for n in c.settings if n in c.differing]
        )
        headers = ["Run", "Group", *names, "Graph", c.metric]
        self.settings.clear()
        self.settings.setColumnCount(len(headers))
        self.settings.setHorizontalHeaderLabels(headers)
        self.settings.setRowCount(len(c.runs))
        first = c.runs[0].config
        for row, (run, diff) in enumerate(zip(c.runs, c.diffs, strict=True)):
            value = run.metric(c.metric)
            cells = [
                run.name,
                c.groups[self._group_of(run)].label,
                *(value_text(run.config.get(n)) for n in names),
                "first run" if diff is None else diff.summary(),
                "—" if value is None else f"{value:.4f}",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                name = headers[column]
                if name in c.settings and run.config.get(name) != first.get(name):
                    item.setBackground(QBrush(DIFFERS))
                if name == "Graph" and diff is not None and not diff.empty:
                    item.setBackground(QBrush(DIFFERS))
                    item.setToolTip("\n".join(diff.lines()))
                self.settings.setItem(row, column, item)
        self.settings.resizeColumnsToContents()

    def _fill_curves(self) -> None:
        key = self.curve.currentData()
        self.curves.clear()
        legend = self.curves.plotItem.legend
        if legend is not None:
            legend.clear()
            # where the curves are not: rising accuracies leave the top left free, falling
            # losses the top right
            if key.endswith("acc"):
                legend.anchor((0, 0), (0, 0), offset=(10, 10))
            else:
                legend.anchor((1, 0), (1, 0), offset=(-10, 10))
        self.curves.setLabel("left", CURVES[key])
        per_step = key == "step_loss"
        self.curves.setLabel("bottom", "step" if per_step else "epoch")
        named: set[int] = set()
        for run in self.comparison.runs:
            if not (run.steps if per_step else run.epochs):
                continue
            g = self._group_of(run)
            pen = pg.mkPen(GROUP_COLOURS[g % len(GROUP_COLOURS)], width=2)
            name = None if g in named else self.comparison.groups[g].label
            named.add(g)
            if per_step:  # every step's loss, smoothed as TensorBoard does (weight 0.9)
                steps, losses = zip(*run.steps, strict=True)
                self.curves.plot(list(steps), smoothed(losses), pen=pen, name=name)
                continue
            self.curves.plot(
                [e.epoch for e in run.epochs],
                [getattr(e, key) for e in run.epochs],
                pen=pen,
                symbol="o",
                symbolSize=5,
                symbolBrush=GROUP_COLOURS[g % len(GROUP_COLOURS)],
                name=name,
            )

    def _quantities(self) -> dict[str, list]:
        """Each quantity that varies across the runs (a sweep's point keys, the settings
        that differ but the seed): its value per run."""
        out: dict[str, list] = {}
        keys = dict.fromkeys(k for r in self.runs for k in (r.experiment.get("point") or {}))
        keys |= dict.fromkeys(n for n in self.comparison.differing if n != "seed")
        for key in keys:
            values = []
            for r in self.runs:
                point = r.experiment.get("point") or {}
                values.append(point.get(key, r.config.get(key)))
            if len({repr(v) for v in values}) > 1:
                out[key] = values
        return out

    def _fill_axes(self) -> None:
        current = self.axis.currentText()
        self.axis.blockSignals(True)
        self.axis.clear()
        for key in self._quantities():
            self.axis.addItem(key)
        if current:
            self.axis.setCurrentText(current)
        self.axis.blockSignals(False)
        self._fill_scatter()

    def _fill_scatter(self) -> None:
        self.scatter.clear()
        key = self.axis.currentText()
        values = self._quantities().get(key)
        metric = METRICS[self.comparison.metric]
        self.scatter.setLabel("left", metric.title)
        if not values:
            self.scatter.setLabel("bottom", "no setting varies across these runs")
            return
        self.scatter.setLabel("bottom", key)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        order = sorted({repr(v): v for v in values}.values(), key=lambda v: (str(type(v)), v))
        xs = [float(v) for v in values] if numeric else [order.index(v) for v in values]
        log = numeric and min(xs) > 0 and max(xs) / min(xs) >= 100
        if log:
            import math

            xs = [math.log10(x) for x in xs]
        axis = self.scatter.getAxis("bottom")
        if numeric:
            axis.setTicks(None)
            self.scatter.setLabel("bottom", f"{key} (log₁₀)" if log else key)
        else:
            axis.setTicks([[(i, value_text(v)) for i, v in enumerate(order)]])
        ys = [r.metric(metric.name) for r in self.runs]
        brushes = [GROUP_COLOURS[self._group_of(r) % len(GROUP_COLOURS)] for r in self.runs]
        points = [(x, y, b) for x, y, b in zip(xs, ys, brushes, strict=True) if y is not None]
        if points:
            self.scatter.addItem(
                pg.ScatterPlotItem(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    size=10,
                    brush=[p[2] for p in points],
                    pen=None,
                )
            )

    def _fill_diff_choices(self) -> None:
        """One entry per configuration other than the reference's (its first run), those
        whose graph differs first; with one configuration, each other run."""
        c = self.comparison
        first = self.runs[0]
        picks = [g.runs[0] for g in c.groups[1:]] or list(self.runs[1:])

        def same_graph(run: RunRecord) -> bool:
            diff = c.diffs[self.runs.index(run)]
            return diff is None or diff.empty

        picks.sort(key=same_graph)
        self.diff_run.blockSignals(True)
        self.diff_run.clear()
        for run in picks:
            self.diff_run.addItem(f"{run.label()} against {first.label()}", self.runs.index(run))
        self.diff_run.blockSignals(False)
        self._fill_diff()

    def _fit_diff(self) -> None:
        """Fit the diff's canvas (a tall graph then shows its top at a readable scale), and
        scroll to its first marked block."""
        for view in self.diff_view.findChildren(GraphView):
            view.fit()
            marked = [i for i in self.diff_scene.node_items.values() if i.diff is not None]
            if marked:
                first = min(marked, key=lambda i: (i.pos().y(), i.pos().x()))
                view.ensureVisible(first, 40, 60)

    def _fill_diff(self) -> None:
        index = self.diff_run.currentData()
        self.diff_lines.clear()
        if self.diff_scene is not None:
            for child in self.diff_view.findChildren(GraphView):
                child.setParent(None)
            self.diff_scene = None
        if index is None:
            self.diff_lines.addItem("one run: nothing to compare its graph with")
            return
        a, b = self.runs[0].project, self.runs[index].project
        if a is None or b is None:
            self.diff_lines.addItem("a run's project file cannot be read")
            return
        diff = diff_graphs(a.graph, b.graph)
        self.diff_lines.addItems(diff.lines() or ["the same graph: only settings differ"])
        merged, marks = overlay(a.graph, b.graph, diff)
        for node_id, position in layered_layout(merged).items():
            merged.move_node(node_id, position)
        document = Document(Project(merged, b.name))
        document.locked = "a run's graph in a comparison: read only"
        document.setParent(self)
        self.diff_scene = GraphScene(document)
        self.diff_scene.set_diff(marks)
        view = GraphView(self.diff_scene)
        self.diff_view.layout().addWidget(view)
        QTimer.singleShot(0, self, self._fit_diff)  # once laid out at its size

    def export_csv(self, path: str | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Export comparison", "comparison.csv", "CSV files (*.csv)"
            )
            if not path:
                return None
        Path(path).write_text(self.comparison.csv(), encoding="utf-8")
        groups = Path(path).with_name(Path(path).stem + "_configurations.csv")
        groups.write_text(self.comparison.csv(groups=True), encoding="utf-8")
        return Path(path)


def _table() -> QTableWidget:
    table = QTableWidget()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table
