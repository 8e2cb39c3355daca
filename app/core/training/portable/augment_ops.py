"""Batch augmentations on (N, C, H, W) float tensors with a seeded generator."""

import random

import torch


def _rand(n: int, like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=gen.device).to(like.device)


def _randint(
    high: int, n: int, like: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    return torch.randint(high, (n,), generator=gen, device=gen.device).to(like.device)


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and cut a random H×W window per image."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    dy = _randint(2 * padding + 1, n, x, gen)
    dx = _randint(2 * padding + 1, n, x, gen)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(x: torch.Tensor, dim: int, gen: torch.Generator) -> torch.Tensor:
    """Flip each image along ``dim`` with probability 1/2."""
    flip = (_rand(x.shape[0], x, gen) < 0.5).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(dim), x)


def color_jitter(
    x: torch.Tensor, strength: float, gen: torch.Generator
) -> torch.Tensor:
    """Random brightness, contrast and saturation in [1 − s, 1 + s] per image."""
    n = x.shape[0]

    def factor() -> torch.Tensor:
        return (1 + strength * (2 * _rand(n, x, gen) - 1)).view(-1, 1, 1, 1)

    x = x * factor()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor() + mean
    if x.shape[1] == 3:
        gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        x = (x - gray) * factor() + gray
    return x.clamp(0, 1)


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero a size×size square at a random centre per image (DeVries & Taylor, 2017).

    Squares near the border are clipped."""
    n, _, h, w = x.shape
    top = (_randint(h, n, x, gen) - size // 2).view(-1, 1, 1)
    left = (_randint(w, n, x, gen) - size // 2).view(-1, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, -1, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, -1)
    inside = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    return x * (~inside).unsqueeze(1)


def mixup(
    x: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    alpha: float,
    gen: torch.Generator,
    rng: random.Random,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each image with a random partner: λ ~ Beta(α, α) (Zhang et al., 2018).

    The targets blend the same way. λ comes from the host's ``rng``: drawn on the GPU,
    reading it would wait for every queued kernel at each step."""
    lam = rng.betavariate(alpha, alpha)
    perm = torch.randperm(x.shape[0], generator=gen, device=gen.device).to(x.device)
    onehot = torch.nn.functional.one_hot(labels, classes).float()
    return lam * x + (1 - lam) * x[perm], lam * onehot + (1 - lam) * onehot[perm]
