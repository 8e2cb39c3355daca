"""The block catalogue: every block type NetBuilder knows, registered on import.

Torch only: no Qt, no networkx, nothing from ``app``.
"""

from blocks import activation, composite, conv, io, merge, norm, opaque, pool  # noqa: F401
from blocks.base import (
    REGISTRY,
    BlockType,
    Formula,
    Inference,
    Registry,
    Shape,
    ShapeError,
    UnknownBlockError,
    register,
    shape_text,
)
from blocks.params import InvalidParamError, Param

__all__ = [
    "REGISTRY",
    "BlockType",
    "Formula",
    "Inference",
    "InvalidParamError",
    "Param",
    "Registry",
    "Shape",
    "ShapeError",
    "UnknownBlockError",
    "register",
    "shape_text",
]
