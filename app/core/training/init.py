"""Weight initialisation schemes from the course: LeCun, Xavier/Glorot and He/Kaiming.

Applies to every convolution and linear layer (weights), optionally zeroes their biases, and can
zero the last BatchNorm scale of each residual branch so blocks start as identities (Goyal et
al., 2017). "default" keeps PyTorch's own initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from app.core.training.config import TrainConfig
from blocks.modules import BottleneckBlock, ResidualBlock

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a conv or linear weight, as the papers define them."""
    receptive = math.prod(weight.shape[2:]) if weight.ndim > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def expected_std(scheme: str, weight: torch.Tensor, mode: str = "fan_in") -> float:
    """The standard deviation each scheme gives ``weight`` (uniform schemes included)."""
    fan_in, fan_out = fans(weight)
    if scheme == "lecun":
        return math.sqrt(1.0 / fan_in)
    if scheme.startswith("xavier"):
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme.startswith("he"):
        return math.sqrt(2.0 / (fan_in if mode == "fan_in" else fan_out))
    raise ValueError(scheme)


@torch.no_grad()
def initialise(
    model: nn.Module, config: TrainConfig, generator: torch.Generator | None = None
) -> None:
    scheme = config.init
    for module in model.modules():
        if isinstance(module, _LAYERS):
            w = module.weight
            if scheme != "default":
                std = expected_std(scheme, w, config.init_mode)
                if scheme.endswith("uniform"):
                    bound = math.sqrt(3.0) * std
                    w.uniform_(-bound, bound, generator=generator)
                else:
                    w.normal_(0.0, std, generator=generator)
            if config.zero_bias and scheme != "default" and module.bias is not None:
                module.bias.zero_()
    if config.zero_init_residual:
        for module in model.modules():
            if isinstance(module, BottleneckBlock):
                module.bn3.weight.zero_()
            elif isinstance(module, ResidualBlock):
                module.bn2.weight.zero_()
