"""PNG figures of the inspection commands, drawn with matplotlib's Agg backend (no display,
no Qt): imported by the command line and worker processes only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

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


def feature_chart(fm, image: torch.Tensor | None, path: Path, caption: str = "") -> Path:  # type: ignore[no-untyped-def]
    """The image (when given) and up to 64 channels of a node's maps, each on its own
    colour scale; a flat output as bars."""
    import math

    plt = _pyplot()
    maps = fm.maps
    if maps.ndim == 3:
        shown = min(64, maps.shape[0])
        cols = min(8, shown + (1 if image is not None else 0))
        rows = math.ceil((shown + (1 if image is not None else 0)) / cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.6), constrained_layout=True
        )
        axes = list(getattr(axes, "flat", [axes]))
        k = 0
        if image is not None:
            axes[0].imshow(_displayable(image), cmap="gray" if image.shape[0] == 1 else None)
            axes[0].set_title("image", fontsize=7)
            k = 1
        for c in range(shown):
            stat = fm.stats[c]  # each channel's mean and the share of it above zero
            axes[k + c].imshow(maps[c].numpy(), cmap="viridis")
            axes[k + c].set_title(f"{c}: μ {stat.mean:.2g}, {stat.active:.0%} > 0", fontsize=6)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[k + shown :]:
            ax.axis("off")
    else:
        fig, ax = plt.subplots(figsize=(8, 3), constrained_layout=True)
        ax.bar(range(maps.shape[0]), maps.numpy())
        ax.set_xlabel("unit")
        ax.set_ylabel("activation")
    fig.suptitle(caption or fm.summary, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _displayable(image: torch.Tensor):  # type: ignore[no-untyped-def]
    """A normalised (C, H, W) image stretched to [0, 1] for display (H, W[, 3])."""
    x = image.float()
    x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-8)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def augmentation_chart(batch, path: Path, title: str = "") -> Path:  # type: ignore[no-untyped-def]
    """Each image as loaded (top) above what the network is given at that step (below,
    normalisation undone), with its target: the class, or mixup's two largest shares."""
    plt = _pyplot()
    n = len(batch.originals)
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.6), squeeze=False, constrained_layout=True)
    shown = batch.viewable()
    for i in range(n):
        original = batch.originals[i].float() / 255
        for row, img in ((0, original), (1, shown[i])):
            ax = axes[row][i]
            if img.shape[0] == 1:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0][i].set_title(batch.classes[int(batch.labels[i])], fontsize=7)
        target = batch.targets[i]
        if target.ndim == 0:
            text = batch.classes[int(target)]
        else:  # mixup: soft targets
            top = target.topk(2)
            text = " + ".join(
                f"{v:.0%} {batch.classes[int(k)]}"
                for v, k in zip(top.values, top.indices, strict=True)
                if v > 0.005
            )
        axes[1][i].set_title(text, fontsize=6)
    axes[0][0].set_ylabel("loaded", fontsize=8)
    axes[1][0].set_ylabel(f"step {batch.step}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def attribution_chart(images: torch.Tensor, attribution, captions, path: Path, title: str) -> Path:  # type: ignore[no-untyped-def]
    """Each image (normalisation undone for display) with its heat map laid over it."""
    plt = _pyplot()
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.8), squeeze=False, constrained_layout=True)
    for i in range(n):
        ax = axes[0][i]
        img = _displayable(images[i])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.imshow(attribution.heat[i].numpy(), cmap="jet", alpha=0.45)
        ax.set_title(captions[i], fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def landscape_chart(surfaces, names, path: Path, lines=None) -> Path:  # type: ignore[no-untyped-def]
    """Each surface as filled contours of the loss (shared levels, so planes compare), its
    sharpness in the title; the lines, if given, in a last panel."""
    import numpy as np

    plt = _pyplot()
    panels = len(surfaces) + (1 if lines else 0)
    fig, axes = plt.subplots(
        1, panels, figsize=(4.2 * panels, 3.9), squeeze=False, constrained_layout=True
    )
    high = max(max(max(r) for r in s.losses) for s in surfaces) if surfaces else 1.0
    low = min(min(min(r) for r in s.losses) for s in surfaces) if surfaces else 0.0
    levels = np.linspace(low, min(high, low + 10.0), 25)
    for ax, s, name in zip(axes[0], surfaces, names, strict=False):
        grid = np.array(s.losses).T  # rows: β, columns: α
        c = ax.contourf(s.coords, s.coords, grid, levels=levels, cmap="viridis", extend="max")
        ax.contour(s.coords, s.coords, grid, levels=levels[::3], colors="white", linewidths=0.4)
        ax.plot(0, 0, "r+", ms=10)
        ax.set_title(f"{name}\nloss {s.centre:.3f}, sharpness {s.sharpness():.1f}%", fontsize=8)
        ax.set_xlabel("α (direction 1)")
        ax.set_ylabel("β (direction 2)")
        fig.colorbar(c, ax=ax, shrink=0.8)
    if lines:
        ax = axes[0][-1]
        for result, name in lines:
            ax.plot(result.alphas, result.losses, marker="o", ms=2, label=name)
        ax.set_xlabel("α: 0 = initialisation, 1 = trained")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.set_title("straight line from the start", fontsize=8)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
