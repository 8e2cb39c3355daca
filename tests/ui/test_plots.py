"""The live plots as a user sees them, rendered offscreen and read back pixel by pixel: the
first report is visible on every plot, and the keys sit in the title rows, not on the data."""

from __future__ import annotations

from PySide6.QtGui import QColor

from app.core.training.events import StepReport
from app.core.training.metrics import RunMetrics
from app.ui.training.plots import MetricsPlots


def _plots(qtbot) -> MetricsPlots:
    plots = MetricsPlots()
    qtbot.addWidget(plots)
    plots.resize(390, 520)  # the dock's width at 1000x700
    plots.show()
    qtbot.waitExposed(plots)
    return plots


def _pixels_of(plots: MetricsPlots, plot, colour: str, tolerance: int = 40) -> int:
    """How many pixels inside ``plot``'s data area are near ``colour``."""
    image = plots.view.grab().toImage()
    area = plot.vb.mapRectToScene(plot.vb.boundingRect())
    area = plots.view.mapFromScene(area).boundingRect()
    want = QColor(colour)
    count = 0
    for x in range(max(0, area.left()), min(image.width(), area.right())):
        for y in range(max(0, area.top()), min(image.height(), area.bottom())):
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - want.red())
                + abs(c.green() - want.green())
                + abs(c.blue() - want.blue())
            ) < tolerance:
                count += 1
    return count


def test_the_first_report_shows_on_every_plot(qtbot):
    """After the first report each live series holds one point, and a line through one point
    draws nothing: images/s (and loss, LR, train accuracy) stayed blank until the second."""
    plots = _plots(qtbot)
    metrics = RunMetrics()
    metrics.add(StepReport(1, 0, (0,), (2.3,), (0.05,), 0.12, 850.0, 30.0, 1.0))
    plots.set_total_steps(100)
    plots.set_metrics(metrics)
    qtbot.wait(50)
    # the step axes are linked by screen position: with left axes of different widths the
    # learning-rate plot started at step 8, its first steps hidden behind the wider axis
    for plot in (plots.acc, plots.lr, plots.speed):
        assert plot.vb.viewRange()[0] == plots.loss.vb.viewRange()[0]
    assert _pixels_of(plots, plots.speed, "#1f77b4") > 5
    assert _pixels_of(plots, plots.lr, "#2ca02c") > 5
    assert _pixels_of(plots, plots.acc, "#1f77b4") > 5
    # with more points they are lines again, not a dot per point
    metrics.add(StepReport(8, 0, tuple(range(1, 8)), (2.2,) * 7, (0.05,) * 7, 0.2, 900.0, 29, 1))
    plots.redraw()
    assert plots.curves["speed"].opts["symbol"] is None
    assert _pixels_of(plots, plots.speed, "#1f77b4") > 5


def test_the_keys_are_in_the_title_rows_not_on_the_data(qtbot):
    """Legends drawn inside a plot covered the curves; each key is now the line under the
    plot's name, and earlier runs are named under the plots, in their colours."""
    plots = _plots(qtbot)
    for plot in (plots.loss, plots.acc, plots.lr, plots.speed):
        assert plot.legend is None
        assert not plot.vb.boundingRect().isEmpty()
    title = plots.acc.titleLabel.text
    assert "top-1" in title and "top-5" in title and "train" in title
    assert "planned" in plots.lr.titleLabel.text
    # the title row sits above the data area
    label = plots.acc.titleLabel.mapRectToScene(plots.acc.titleLabel.boundingRect())
    data = plots.acc.vb.mapRectToScene(plots.acc.vb.boundingRect())
    assert label.bottom() <= data.top() + 1
    # the key fits the plot's width at the smallest dock
    assert label.width() <= plots.acc.sceneBoundingRect().width() + 1
    assert plots.runs_key.isHidden()
    earlier = RunMetrics("12:00 sgd lr 0.05")
    earlier.add(StepReport(4, 0, (0, 1, 2, 3), (2.0,) * 4, (0.05,) * 4, 0.1, 100.0, 1.0, 1.0))
    plots.set_overlays([earlier])
    assert not plots.runs_key.isHidden() and "12:00 sgd lr 0.05" in plots.runs_key.text()


def test_the_plots_can_be_built_a_piece_at_a_time(qtbot):
    """The window builds the plots while idle, one piece per turn of the event loop (each
    10-25 ms, where the whole took 50-100 ms): the pieces make the same plots."""
    plots = MetricsPlots(defer=True)
    qtbot.addWidget(plots)
    assert not hasattr(plots, "curves")  # only the frame so far
    pieces = 0
    while plots.build_step():
        pieces += 1
    assert pieces >= 4 and not plots.build_step()
    whole = MetricsPlots()
    qtbot.addWidget(whole)
    assert set(plots.curves) == set(whole.curves)
    assert plots.acc.titleLabel.text == whole.acc.titleLabel.text
