"""The built-in offline dataset: ten kinds of shapes, deterministic by seed.

Each image shows one bright shape (disk, square, diamond, ring, horizontal bar, vertical
bar, plus, X, triangle, frame) of random size, position and colour on a darker
background of random colour, with Gaussian noise. Generated in batches with tensor ops:
12,000 images take well under a second.
"""

from __future__ import annotations

import torch

CLASSES = (
    "disk",
    "square",
    "diamond",
    "ring",
    "h-bar",
    "v-bar",
    "plus",
    "x",
    "triangle",
    "frame",
)


def _masks(x: torch.Tensor, y: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """(N, 10, H, W) masks of every shape centred at 0 with half-size r."""
    ax, ay = x.abs(), y.abs()
    cheb = torch.maximum(ax, ay)
    dist = torch.sqrt(x * x + y * y)
    thin = r / 3
    return torch.stack(
        [
            dist <= r,
            cheb <= r,
            ax + ay <= r * 1.3,
            (dist <= r) & (dist >= r * 0.55),
            (ay <= thin) & (ax <= r),
            (ax <= thin) & (ay <= r),
            ((ax <= thin * 0.8) & (ay <= r)) | ((ay <= thin * 0.8) & (ax <= r)),
            ((ax - ay).abs() <= thin * 0.9) & (cheb <= r),
            (y >= -r) & (y <= r) & (ax <= (y + r) / 2),
            (cheb <= r) & (cheb >= r * 0.6),
        ],
        dim=1,
    )


def make_shapes(
    n: int, size: int = 32, channels: int = 3, seed: int = 0, noise: float = 0.08
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images (N, C, size, size) in [0, 1] and balanced labels (N,)."""
    images, labels, _ = draw_shapes(n, size, channels, seed, noise)
    return images, labels


def draw_shapes(
    n: int, size: int = 32, channels: int = 3, seed: int = 0, noise: float = 0.08
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`make_shapes`' images and labels, and each shape's box (N, 4): the first
    and last column and row it covers (x0, y0, x1, y1, inclusive)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=gen)]
    images = torch.empty(n, channels, size, size)
    boxes = torch.empty(n, 4, dtype=torch.long)
    coords = torch.arange(size, dtype=torch.float32)
    chunk = 2048
    for start in range(0, n, chunk):
        lab = labels[start : start + chunk]
        m = lab.numel()
        r = size * (0.16 + 0.2 * torch.rand(m, 1, 1, generator=gen))
        margin = r + 1
        cx = margin + (size - 2 * margin) * torch.rand(m, 1, 1, generator=gen)
        cy = margin + (size - 2 * margin) * torch.rand(m, 1, 1, generator=gen)
        x = coords.view(1, 1, size) - cx
        y = coords.view(1, size, 1) - cy
        masks = _masks(x, y, r)
        mask = masks[torch.arange(m), lab].unsqueeze(1).float()
        cols, rows = mask[:, 0].amax(1) > 0, mask[:, 0].amax(2) > 0  # (m, size) each
        index = torch.arange(size)
        boxes[start : start + m, 0] = torch.where(cols, index, size).amin(1)
        boxes[start : start + m, 1] = torch.where(rows, index, size).amin(1)
        boxes[start : start + m, 2] = torch.where(cols, index, -1).amax(1)
        boxes[start : start + m, 3] = torch.where(rows, index, -1).amax(1)
        # a bright shape of random colour on a darker background of random colour
        fg = 0.5 + 0.5 * torch.rand(m, channels, 1, 1, generator=gen)
        bg = 0.45 * torch.rand(m, channels, 1, 1, generator=gen)
        img = bg + (fg - bg) * mask
        img += noise * torch.randn(img.shape, generator=gen)
        images[start : start + m] = img.clamp_(0, 1)
    return images, labels, boxes
