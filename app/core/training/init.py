"""Weight initialisation from the config: the scheme's spec in the options registry, drawn by
``portable/init.py`` (which exported training scripts copy). "default" keeps PyTorch's own
initialisation; ``zero_init_residual`` zeroes the last BatchNorm scale of each residual branch
so blocks start as identities (Goyal et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn

from app.core.training.config import TrainConfig
from app.core.training.options import INITS
from app.core.training.portable.init import fans, init_weights, zero_residual_branches


def expected_std(scheme: str, weight: torch.Tensor, mode: str = "fan_in") -> float:
    """The standard deviation each scheme gives ``weight`` (uniform schemes included)."""
    std = INITS[scheme].std
    if std is None:
        raise ValueError(f"{scheme!r} keeps PyTorch's initialisation")
    return std(*fans(weight), mode)


def initialise(
    model: nn.Module, config: TrainConfig, generator: torch.Generator | None = None
) -> None:
    spec = INITS[config.init]
    if spec.std is not None:
        init_weights(model, spec.std, spec.uniform, config.init_mode, config.zero_bias, generator)
    if config.zero_init_residual:
        zero_residual_branches(model)
