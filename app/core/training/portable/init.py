"""Weight initialisation from the course: LeCun, Xavier/Glorot and He/Kaiming.

A scheme is a standard deviation as a function of a layer's fans, drawn from a normal
or a uniform distribution of that deviation. The engine runs these functions and
exported training scripts copy them, so a seed gives both the same initial weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a conv or linear weight, as the papers define them."""
    receptive = math.prod(weight.shape[2:]) if weight.ndim > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def init_weights(
    model: nn.Module,
    std: Callable[[int, int, str], float],
    uniform: bool,
    mode: str,
    zero_bias: bool,
    generator: torch.Generator | None = None,
) -> None:
    """Draw every convolution and linear weight with deviation ``std(fan_in, fan_out,
    mode)``, from a uniform or a normal distribution; optionally zero their biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
            s = std(*fans(m.weight), mode)
            if uniform:
                bound = math.sqrt(3.0) * s
                m.weight.uniform_(-bound, bound, generator=generator)
            else:
                m.weight.normal_(0.0, s, generator=generator)
            if zero_bias and m.bias is not None:
                m.bias.zero_()


@torch.no_grad()
def zero_residual_branches(model: nn.Module) -> None:
    """Zero the scale of the last BatchNorm of every residual branch, so each block
    starts as an identity (Goyal et al., 2017). A block names that layer in
    ``branch_end``."""
    for m in model.modules():
        end = getattr(type(m), "branch_end", None)
        if end:
            getattr(m, end).weight.zero_()
