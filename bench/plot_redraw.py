"""The live plots' redraw cost after short and very long runs (goal: under 3 ms however long
the run). A redraw hands the curves the data added since the last one (decimated min/max
incrementally); the paint is what Qt then draws. Usage: python bench/plot_redraw.py"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from app.core.training.metrics import RunMetrics
    from app.ui.training.plots import MetricsPlots

    app = QApplication.instance() or QApplication([])
    plots = MetricsPlots()
    plots.resize(700, 500)
    plots.show()
    app.processEvents()
    rng = np.random.default_rng(0)
    for total in (10_000, 100_000, 1_000_000):
        m = RunMetrics()
        steps = np.arange(total, dtype=float)
        loss = 2 * np.exp(-5 * steps / total) + 0.1 * rng.random(total)
        m.steps.extend(steps)
        m.losses.extend(loss)
        m.smoothed.extend(loss)
        m.lrs.extend(np.full(total, 0.05))
        ticks = steps[::20]
        m.tick_steps.extend(ticks)
        m.throughput.extend(np.full(len(ticks), 1e4))
        m.train_acc.extend(np.full(len(ticks), 0.5))
        plots.set_total_steps(total + 2_000)
        plots.set_metrics(m)
        app.processEvents()
        redraw, paint = [], []
        for k in range(40):  # a report of 20 steps, then a redraw, as while training
            new = total + 20 * k + np.arange(20, dtype=float)
            m.steps.extend(new)
            m.losses.extend(np.full(20, 0.1))
            m.smoothed.extend(np.full(20, 0.1))
            m.lrs.extend(np.full(20, 0.05))
            t0 = time.perf_counter()
            plots.redraw()
            t1 = time.perf_counter()
            plots.view.viewport().repaint()
            t2 = time.perf_counter()
            redraw.append(t1 - t0)
            paint.append(t2 - t1)
        print(
            f"{total:>9,} steps: redraw median {statistics.median(redraw) * 1e3:.1f} ms "
            f"(goal < 3), paint {statistics.median(paint) * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
