"""PNG figures of the inspection commands, drawn with matplotlib's Agg backend (no display,
no Qt): imported by the command line and worker processes only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.core.training.inside.signal import SignalReport


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window
    import matplotlib.pyplot as plt

    return plt


def signal_chart(reports: Sequence[SignalReport], path: Path, title: str = "") -> Path:
    """Activation and gradient spreads over depth, one line per initialiser, log scale."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for r in reports:
        depth = [layer.depth for layer in r.layers]
        left.plot(depth, [layer.act_std for layer in r.layers], marker="o", ms=3, label=r.init)
        right.plot(depth, [layer.grad_std for layer in r.layers], marker="o", ms=3, label=r.init)
    for ax, what in ((left, "activations"), (right, "gradients")):
        ax.set_yscale("log")
        ax.set_xlabel("layer with weights (depth)")
        ax.set_ylabel(f"std of the {what}")
        ax.set_title(f"{what} at initialisation")
        ax.grid(True, which="both", alpha=0.3)
    left.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
