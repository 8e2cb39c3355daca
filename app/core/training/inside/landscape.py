"""Loss landscapes (Li et al., "Visualizing the Loss Landscape of Neural Nets", 2018), the
picture behind the course's claim that flat minima and small batches generalise.

- ``line``: the loss along the straight line between two sets of weights (a run's start and
  end, or two runs), θ(α) = θa + α (θb − θa).
- ``surface``: the loss on a plane around a set of weights, θ + α d₁ + β d₂, along two random
  directions with *filter-wise normalisation*: each filter of a direction (a conv's output
  channel, a linear layer's row) is scaled to the norm of the same filter of the weights, so
  planes of different networks are comparable; biases and normalisation layers get no
  direction (as in the paper).
- ``sharpness``: the largest rise of the loss within a radius of the centre of that plane,
  relative to 1 + the centre's loss (Keskar et al.'s ε-sharpness, on the plane).

The loss is the cross-entropy on a fixed set of images, the network in evaluation mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class Cancelled(Exception):
    """``should_stop`` said to stop before the surface was complete."""


State = dict[str, torch.Tensor]


def loss_of(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, classes: int | None = None
) -> float:
    """Mean cross-entropy of ``model`` on (x, y), in evaluation mode, without gradients;
    ``classes``: score only the first that many outputs (as the engine does)."""
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(y), 256):
            out = model(x[i : i + 256])[:, :classes]
            total += float(
                nn.functional.cross_entropy(out.float(), y[i : i + 256], reduction="sum")
            )
    return total / max(len(y), 1)


def _directed(model: nn.Module) -> set[str]:
    """The names of the parameters that get a direction: conv and linear weights."""
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
            names.add(f"{prefix}.weight" if prefix else "weight")
    return names


def random_direction(model: nn.Module, generator: torch.Generator) -> State:
    """A Gaussian direction over the conv and linear weights, each filter scaled to the norm
    of the same filter of ``model``'s weights; zero for every other tensor."""
    directed = _directed(model)
    out: State = {}
    for name, value in model.state_dict().items():
        if name in directed and value.is_floating_point():
            d = torch.randn(value.shape, generator=generator, dtype=torch.float32).to(value)
            filters = value.flatten(1) if value.ndim > 1 else value.view(1, -1)
            dirs = d.flatten(1) if d.ndim > 1 else d.view(1, -1)
            scale = filters.norm(dim=1, keepdim=True) / dirs.norm(dim=1, keepdim=True).clamp_min(
                1e-12
            )
            out[name] = (dirs * scale).view_as(value)
        else:
            out[name] = torch.zeros_like(value) if value.is_floating_point() else value.clone()
    return out


def _combine(base: State, terms: list[tuple[float, State]]) -> State:
    out: State = {}
    for name, value in base.items():
        if not value.is_floating_point():
            out[name] = value
            continue
        v = value.clone()
        for coef, d in terms:
            if coef:
                v.add_(d[name], alpha=coef)
        out[name] = v
    return out


@dataclass(frozen=True)
class Line:
    alphas: tuple[float, ...]
    losses: tuple[float, ...]


def line(
    model: nn.Module,
    start: State,
    end: State,
    x: torch.Tensor,
    y: torch.Tensor,
    points: int = 25,
    margin: float = 0.25,
    classes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Line:
    """The loss at θ(α) = start + α (end − start) for α from −margin to 1 + margin."""
    direction = {
        k: (end[k] - start[k]) if start[k].is_floating_point() else start[k] for k in start
    }
    alphas = [-margin + (1 + 2 * margin) * i / (points - 1) for i in range(points)]
    losses = []
    for i, a in enumerate(alphas):
        if should_stop and should_stop():
            raise Cancelled(f"stopped after {i} of {points} points")
        model.load_state_dict(_combine(start, [(a, direction)]))
        losses.append(loss_of(model, x, y, classes))
        if progress:
            progress(i + 1, points)
    model.load_state_dict(end)
    return Line(tuple(alphas), tuple(losses))


@dataclass(frozen=True)
class Surface:
    coords: tuple[float, ...]  # the same values along both directions
    losses: tuple[tuple[float, ...], ...]  # losses[i][j] at (α = coords[i], β = coords[j])
    centre: float  # the loss at the weights themselves

    def sharpness(self, radius: float = 0.25) -> float:
        """The largest rise of the loss within ``radius`` of the centre, relative to
        1 + the centre's loss (in percent)."""
        rise = max(
            loss - self.centre
            for a, row in zip(self.coords, self.losses, strict=True)
            for b, loss in zip(self.coords, row, strict=True)
            if math.hypot(a, b) <= radius + 1e-9
        )
        return 100 * rise / (1 + self.centre)

    def to_csv(self) -> str:
        lines = ["alpha,beta,loss"]
        for a, row in zip(self.coords, self.losses, strict=True):
            lines += [
                f"{a:.4g},{b:.4g},{loss:.6g}" for b, loss in zip(self.coords, row, strict=True)
            ]
        return "\n".join(lines) + "\n"


def surface(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int = 21,
    span: float = 1.0,
    seed: int = 0,
    classes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Surface:
    """The loss on a ``steps`` × ``steps`` grid over [−span, span]² of the plane spanned by
    two filter-normalised random directions around ``model``'s weights."""
    base = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    d1, d2 = random_direction(model, gen), random_direction(model, gen)
    coords = [-span + 2 * span * i / (steps - 1) for i in range(steps)]
    total = steps * steps
    rows = []
    done = 0
    try:
        for a in coords:
            row = []
            for b in coords:
                if should_stop and should_stop():
                    raise Cancelled(f"stopped after {done} of {total} points")
                model.load_state_dict(_combine(base, [(a, d1), (b, d2)]))
                row.append(loss_of(model, x, y, classes))
                done += 1
                if progress:
                    progress(done, total)
            rows.append(tuple(row))
    finally:
        model.load_state_dict(base)
    return Surface(tuple(coords), tuple(rows), loss_of(model, x, y, classes))
