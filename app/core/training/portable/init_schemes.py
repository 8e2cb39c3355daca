"""The initialisation schemes of the course as standard deviations of a layer's fans
(no torch: the settings list them before torch loads). ``init.init_weights`` draws the
weights; exported training scripts copy both.
"""

from __future__ import annotations

import math


def lecun_std(fan_in: int, fan_out: int, mode: str) -> float:
    """LeCun (1998): variance 1 / fan_in."""
    return math.sqrt(1.0 / fan_in)


def xavier_std(fan_in: int, fan_out: int, mode: str) -> float:
    """Glorot & Bengio (2010): variance 2 / (fan_in + fan_out)."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def he_std(fan_in: int, fan_out: int, mode: str) -> float:
    """He et al. (2015), for ReLU: variance 2 / fan (fan_in keeps the forward signal,
    fan_out the backward one)."""
    return math.sqrt(2.0 / (fan_in if mode == "fan_in" else fan_out))
