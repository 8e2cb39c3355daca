"""Opaque modules: a PyTorch module no block computes, kept whole by an import.

The node names the module's class (``torchvision.ops.stochastic_depth.StochasticDepth``) and
its constructor arguments (JSON), as the importer recovered and verified them; its shapes and
parameter count were measured when it was imported (a run on the meta device), so the shape
pass needs no torch. Only classes from ``torch`` and ``torchvision`` are built: a project file
cannot make NetBuilder import any other code.
"""

from __future__ import annotations

import json
import re
from typing import Any

from blocks.base import (
    BlockType,
    Inference,
    Params,
    Shape,
    ShapeError,
    call_source,
    nn,
    register,
    shape_text,
)
from blocks.params import Param

#: a class in torch or torchvision, by its dotted path (no dunder parts)
TARGET = re.compile(r"(torch|torchvision)(\.(?!__)[A-Za-z_][A-Za-z0-9_]*)+")


def resolve(target: str) -> type:
    """The ``nn.Module`` class ``target`` names (torch and torchvision only)."""
    if not TARGET.fullmatch(target):
        raise ShapeError(
            f"{target!r} is not a class of torch or torchvision: only those are built from a "
            "project file"
        )
    import importlib

    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ShapeError(f"{target} does not exist in this PyTorch") from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ShapeError(f"{target} is not an nn.Module class")
    return cls


def arguments(text: str) -> tuple[list[Any], dict[str, Any]]:
    """``{"args": [...], "kwargs": {...}}`` → (args, kwargs)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ShapeError(f"the constructor arguments are not JSON: {text[:80]!r}") from None
    if (
        not isinstance(value, dict)
        or set(value) - {"args", "kwargs"}
        or not isinstance(value.get("args", []), list)
        or not isinstance(value.get("kwargs", {}), dict)
    ):
        raise ShapeError('the constructor arguments must be {"args": [...], "kwargs": {...}}')
    return value.get("args", []), value.get("kwargs", {})


@register
class OpaqueBlock(BlockType):
    type_id = "opaque"
    title = "Opaque module"
    category = "Opaque"
    palette = False  # made by an import, not drawn
    help = (
        "A PyTorch module that no NetBuilder block computes, kept whole from an imported "
        "model with its weights: it trains and exports (the file imports its class), but its "
        "inside cannot be edited and its shape is known only for the input it was imported with."
    )
    params = (
        Param("target", "text", "torch.nn.Identity", "The module's class (torch or torchvision)."),
        Param(
            "arguments", "text", "{}", 'Constructor arguments: {"args": [...], "kwargs": {...}}.'
        ),
        Param("in_shape", "ints", (), "The input shape it was imported with.", 1, 1 << 30),
        Param("out_shape", "ints", (), "Its output shape for that input.", 1, 1 << 30),
        Param("parameters", "int", 0, "Its parameter count.", 0, 2_000_000_000),
        Param("reason", "text", "", "Why no block computes it."),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        if not TARGET.fullmatch(params["target"]):
            resolve(params["target"])  # raises with the reason
        arguments(params["arguments"])
        expected, got = tuple(params["in_shape"]), tuple(inputs[0])
        if expected != got:
            raise ShapeError(
                f"{self._name(params)} was imported for a {shape_text(expected) or '?'} input, "
                f"got {shape_text(got)}: its shape is known only for that input (import the "
                "model again at this size)"
            )
        notes = ("an opaque module: its multiply-accumulates are not counted",)
        if params["reason"]:
            notes += (f"kept whole: {params['reason']}",)
        return Inference(tuple(params["out_shape"]), params["parameters"], 0, notes=notes)

    @staticmethod
    def _name(params: Params) -> str:
        return params["target"].rpartition(".")[2]

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        args, kwargs = arguments(params["arguments"])
        return resolve(params["target"])(*args, **kwargs)

    def source(self, params: Params, inputs: list[Shape]) -> str:
        args, kwargs = arguments(params["arguments"])
        return call_source(self._name(params), args, kwargs)

    def imports(self, params: Params) -> tuple[str, ...]:
        module, _, name = params["target"].rpartition(".")
        package = module.partition(".")[0]
        return (f"from {module} import {name}  # kept whole (opaque): a {package} class",)

    def summary(self, params: Params) -> str:
        return self._name(params)
