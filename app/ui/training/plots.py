"""Live curves of a run with pyqtgraph: loss (raw, smoothed, validation), accuracy (train,
validation top-1/top-5), learning rate (with the planned schedule) and throughput. Redrawn on
the panel's timer from RunMetrics; every curve is decimated to at most MAX_POINTS (min/max per
bucket), so a redraw costs the same however long the run."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.core.training.decimate import Decimator, decimate
from app.core.training.metrics import RunMetrics

MAX_POINTS = 4_000  # per curve: several per pixel column of a plot, min and max each
OVERLAY_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# each curve's colour, used by its pen and by its mark in the key
TRAIN, VALIDATION, TOP5, PLANNED, LR = "#1f77b4", "#d62728", "#ff7f0e", "#999999", "#2ca02c"
LEFT_AXIS_WIDTH = 44  # px: room for "15000" or "0.054" beside the ticks
# the mark a key shows for each kind of curve: a line, a dashed line, a dot, a triangle
MARKS = {"line": "\u2501", "dash": "\u2505", "dot": "\u25cf", "triangle": "\u25b2"}


def key_html(entries: list[tuple[str, str, str]], ink: str) -> str:
    """A one-line key of ``(mark, colour, text)`` entries, for under a plot's title: a legend
    in the title row never covers the data, however the curves run."""
    parts = [
        f"<span style='color:{colour}'>{MARKS[mark]}</span>&nbsp;{text}"
        for mark, colour, text in entries
    ]
    return f"<span style='color:{ink}; font-size:7.5pt'>{'&nbsp;&nbsp;'.join(parts)}</span>"


def _pen(colour: str, width: float = 1, dash: bool = False) -> pg.QtGui.QPen:
    """Curves redrawn while training are 1 px wide: Qt draws those directly, where a wider
    pen is stroked as a path, which made a repaint of the four plots 2-3× slower (and the
    GUI's time is taken from the training's cores)."""
    pen = pg.mkPen(colour, width=width)
    if dash:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class MetricsPlots(QWidget):
    """Four linked plots and a crosshair readout."""

    def __init__(self, defer: bool = False) -> None:
        """``defer``: build only the frame now; :meth:`build_step` builds the rest a piece at
        a time (each 10-25 ms), so the window can prepare the plots while idle without
        holding the event loop for the 50-100 ms of building them at once."""
        super().__init__()
        self._steps = self._build()
        next(self._steps)
        if not defer:
            while self.build_step():
                pass

    def build_step(self) -> bool:
        """Build the next piece; False once the plots are complete."""
        if self._steps is None:
            return False
        try:
            next(self._steps)
        except StopIteration:
            self._steps = None
            return False
        return True

    def _build(self):
        self.view = pg.GraphicsLayoutWidget()
        # the plots follow the palette: white on a light desktop, the window's base colour on
        # a dark one (as the canvas does)
        palette = self.palette()
        self.dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
        self._background = palette.color(QPalette.ColorRole.Base) if self.dark else QColor("white")
        self._ink = palette.color(QPalette.ColorRole.Text) if self.dark else QColor("#444444")
        self.view.setBackground(self._background)
        self.readout = QLabel("Move the mouse over a plot to read values.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.readout)
        raw, smooth = ("#2f4b66", "#6baed6") if self.dark else ("#c6dbef", "#08519c")
        # each plot's key is in its title row (set_overlays adds the earlier runs' key)
        self.keys = {
            "loss": [("line", smooth, "train"), ("dot", VALIDATION, "validation")],
            "accuracy": [
                ("line", TRAIN, "train"),
                ("dot", VALIDATION, "top-1"),
                ("triangle", TOP5, "top-5"),
            ],
            "learning rate": [("dash", PLANNED, "planned"), ("line", LR, "actual")],
            "images/s": [],
        }
        yield
        self.loss = self._plot(0, 0, "loss")
        yield
        self.acc = self._plot(0, 1, "accuracy")
        yield
        self.lr = self._plot(1, 0, "learning rate")
        yield
        self.speed = self._plot(1, 1, "images/s")
        yield
        self.runs_key = QLabel()  # the earlier runs drawn dashed, by colour
        self.runs_key.setWordWrap(True)
        self.runs_key.hide()
        layout.insertWidget(1, self.runs_key)
        for plot in (self.acc, self.lr, self.speed):
            plot.setXLink(self.loss)
        # y ranges are kept by _fit_y, not re-fitted to the data at every redraw: a range that
        # changes makes the axis regenerate its ticks and text, which doubled a repaint's cost
        self.acc.setYRange(0, 1, padding=0.02)  # accuracy lives in [0, 1]
        self._user_range: set[pg.PlotItem] = set()  # plots the user zoomed or panned
        for plot in (self.loss, self.acc, self.lr, self.speed):
            plot.enableAutoRange(y=False)
            plot.vb.sigRangeChangedManually.connect(lambda *_a, p=plot: self._user_range.add(p))
        self.curves = {
            # the raw loss faint, the smoothed one strong, on either background
            "loss": self.loss.plot(pen=_pen(raw), name="train (raw)"),
            "smooth": self.loss.plot(pen=_pen(smooth), name="train (smoothed)"),
            "val_loss": self.loss.plot(
                pen=_pen(VALIDATION, 2), symbol="o", symbolSize=6, name="validation"
            ),
            "train_acc": self.acc.plot(pen=_pen(TRAIN), name="train"),
            "val_acc": self.acc.plot(
                pen=_pen(VALIDATION, 2), symbol="o", symbolSize=6, name="val top-1"
            ),
            "val_top5": self.acc.plot(
                pen=_pen(TOP5, 1.5), symbol="t", symbolSize=6, name="val top-5"
            ),
            "preview": self.lr.plot(pen=_pen(PLANNED, dash=True), name="planned"),
            "lr": self.lr.plot(pen=_pen(LR), name="actual"),
            "speed": self.speed.plot(pen=_pen(TRAIN)),  # not an overlay colour
        }
        self.overlays: list[pg.PlotDataItem] = []
        self.lines = []
        for plot in (self.loss, self.acc, self.lr, self.speed):
            line = pg.InfiniteLine(angle=90, movable=False, pen=_pen("#888888", 1, dash=True))
            plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        self.metrics: RunMetrics | None = None
        self._epochs_drawn = -1  # the epoch curves change once an epoch
        self._decimators: dict[str, Decimator] = {}  # per live curve, incremental
        self._rewinds = 0
        self.view.scene().sigMouseMoved.connect(self._mouse_moved)

    def _plot(self, row: int, col: int, title: str) -> pg.PlotItem:
        plot = self.view.addPlot(row=row, col=col)
        plot.setTitle(self.title_html(title), color=self._ink.name())
        for side in ("left", "bottom"):
            plot.getAxis(side).setPen(self._ink)
            plot.getAxis(side).setTextPen(self._ink)
        # one width for every left axis: the step axes are linked by screen position, so a
        # wider axis ("0.054" beside "2.5") hid the run's first steps behind it
        plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        plot.showGrid(x=False, y=False)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        if row == 1:  # the step axis is named once, under the lower plots
            plot.setLabel("bottom", "step")
        return plot

    def title_html(self, title: str) -> str:
        """The plot's name and, on the line below, its key (a blank line where it has none, so
        the four plots keep the same height)."""
        key = key_html(self.keys[title], self._ink.name()) if self.keys[title] else "&nbsp;"
        return f"{title}<br>{key}"

    # ------------------------------------------------------------------ data
    def set_preview(self, lrs: list[float]) -> None:
        """The planned LR of every step (drawn before and during the run)."""
        y = np.asarray(lrs, dtype=float)
        self.curves["preview"].setData(*decimate(np.arange(len(y), dtype=float), y, MAX_POINTS))
        self._fit_y(self.lr)

    def set_total_steps(self, total: int) -> None:
        """Show the whole planned run on the step axis (the planned LR to its end)."""
        if np.allclose(self.loss.vb.viewRange()[0], self._x_range(total)):
            return  # a range change re-lays out the four linked plots: 10-20 ms
        self.loss.setXRange(0, max(1, total), padding=0.02)

    @staticmethod
    def _x_range(total: int) -> list[float]:
        pad = 0.02 * max(1, total)
        return [-pad, max(1, total) + pad]

    def set_metrics(self, metrics: RunMetrics) -> None:
        self.metrics = metrics
        self._epochs_drawn = -1
        self._decimators.clear()
        self._user_range.clear()
        self.redraw()

    def redraw(self) -> None:
        m = self.metrics
        if m is None:
            return
        if m.rewinds != self._rewinds:  # steps were undone: the decimated views start over
            self._rewinds = m.rewinds
            self._decimators.clear()
        steps = m.steps.values
        self._set("loss", steps, m.losses.values)
        self._set("smooth", steps, m.smoothed.values)
        self._set("lr", steps, m.lrs.values)
        self._set("train_acc", m.tick_steps.values, m.train_acc.values)
        self._set("speed", m.tick_steps.values, m.throughput.values)
        if len(m.epochs) != self._epochs_drawn:
            self._epochs_drawn = len(m.epochs)
            for key in ("val_loss", "val_acc", "val_top5"):
                self.curves[key].setData(*m.epoch_series(key))
        self._fit_y(self.loss)
        self._fit_y(self.lr)
        self._fit_y(self.speed, from_zero=True)  # a dip in images/s shows as what it is

    def _set(self, key: str, x: np.ndarray, y: np.ndarray) -> None:
        """The curve's finite points, decimated min/max to about MAX_POINTS; the decimator
        only looks at the points added since the last redraw."""
        decimator = self._decimators.get(key)
        if decimator is None:
            decimator = self._decimators[key] = Decimator(MAX_POINTS)
        idx = decimator.indices(y)
        curve = self.curves[key]
        # a line through one point draws nothing: the first report (and a run that reports
        # once every few seconds) showed empty plots; a lone point is drawn as a dot
        lone = len(idx) == 1
        if lone != (curve.opts["symbol"] is not None):
            colour = curve.opts["pen"].color()
            curve.setSymbol("o" if lone else None)
            curve.setSymbolSize(5)
            curve.setSymbolPen(colour)
            curve.setSymbolBrush(colour)
        curve.setData(x[idx], y[idx])

    def _fit_y(self, plot: pg.PlotItem, from_zero: bool = False) -> None:
        """Keep every curve of ``plot`` in view with as few range changes as possible: widen
        (with 10% headroom) when the data leaves the range, narrow when it fills under half
        of it. A plot the user zoomed or panned, or set back to auto-range, is left to them."""
        if plot in self._user_range or plot.vb.autoRangeEnabled()[1]:
            return
        values = [item.yData for item in plot.listDataItems() if item.yData is not None]
        values = [v[np.isfinite(v)] for v in values]
        values = [v for v in values if len(v)]
        if not values:
            return
        lo = min(float(v.min()) for v in values)
        hi = max(float(v.max()) for v in values)
        if from_zero:
            lo = min(lo, 0.0)
        low, high = plot.vb.viewRange()[1]
        if lo >= low and hi <= high and (hi - lo) >= 0.5 * (high - low):
            return
        pad = 0.1 * ((hi - lo) or abs(hi) or 1.0)
        plot.setYRange(lo - pad if lo < 0 or lo - pad >= 0 else 0.0, hi + pad, padding=0)

    def point_count(self, key: str) -> int:
        """Points given to the curve (before pyqtgraph's own clipping to the view)."""
        data = self.curves[key].xData
        return 0 if data is None else len(data)

    def set_overlays(self, runs: list[RunMetrics]) -> None:
        """Earlier runs of the project, dashed, on all four plots: smoothed loss, validation
        accuracy, learning rate and images/s, each run in its own colour, named in the key
        under the plots."""
        for item in self.overlays:
            if item.getViewBox() is not None:
                item.getViewBox().removeItem(item)
        self.overlays = []
        for i, run in enumerate(runs):
            pen = _pen(OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)], dash=True)
            x, y = decimate(run.steps.values, run.smoothed.values, MAX_POINTS)
            self.overlays.append(self.loss.plot(x, y, pen=pen, name=run.name))
            ex, ey = run.epoch_series("val_acc")
            self.overlays.append(self.acc.plot(ex, ey, pen=pen, symbol="x", name=run.name))
            x, y = decimate(run.steps.values, run.lrs.values, MAX_POINTS)
            self.overlays.append(self.lr.plot(x, y, pen=pen))
            self.overlays.append(
                self.speed.plot(run.tick_steps.values, run.throughput.values, pen=pen)
            )
        self._fit_y(self.loss)
        self._fit_y(self.lr)
        self._fit_y(self.speed, from_zero=True)
        entries = [
            ("dash", OVERLAY_COLOURS[i % len(OVERLAY_COLOURS)], html.escape(run.name))
            for i, run in enumerate(runs)
        ]
        self.runs_key.setText("Earlier runs: " + key_html(entries, self._ink.name()))
        self.runs_key.setVisible(bool(runs))

    # --------------------------------------------------------------- readout
    def _mouse_moved(self, pos) -> None:
        for plot in (self.loss, self.acc, self.lr, self.speed):
            if plot.sceneBoundingRect().contains(pos):
                step = plot.vb.mapSceneToView(pos).x()
                self.read_at(step)
                return

    def read_at(self, step: float) -> str:
        """Move the crosshair to ``step`` and show the values there."""
        for line in self.lines:
            line.setPos(step)
        m = self.metrics
        if m is None or not len(m.steps):
            text = f"step {step:.0f}"
        else:
            i = int(np.clip(np.searchsorted(m.steps.values, step), 0, len(m.steps) - 1))
            text = (
                f"step {m.steps.values[i]:.0f}: loss {m.losses.values[i]:.4f} "
                f"(smoothed {m.smoothed.values[i]:.4f}) · lr {m.lrs.values[i]:.3g}"
            )
            done = [e for e in m.epochs if e.step <= step + 0.5]
            if done:
                e = done[-1]
                text += (
                    f" · epoch {e.epoch}: val loss {e.val_loss:.4f}, "
                    f"val acc {e.val_acc:.2%} (top-5 {e.val_top5:.2%})"
                )
        self.readout.setText(text)
        return text
