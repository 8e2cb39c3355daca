"""Opaque modules: a module no block computes, kept whole (the ``opaque`` block).

Its constructor arguments are recovered from the instance: each parameter of the class's
``__init__`` that the module keeps as an attribute of the same name, with a JSON value
(``StochasticDepth(p, mode)``, ``LayerNorm2d(normalized_shape, eps)``); a parameter with a
default may be missing. The rebuilt module must then prove it is the same (``same_module``:
the same layers and settings, the same output with the same weights). Only torch and
torchvision classes qualify (the block builds no other code from a project file).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import torch
from torch import nn

from app.core.imports.composites import same_module
from blocks import REGISTRY, ShapeError
from blocks.opaque import TARGET


class _Missing:
    pass


def _json(value: Any) -> Any:
    """``value`` as JSON data (tuples as lists), or _Missing."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        items = [_json(v) for v in value]
        return _Missing if any(v is _Missing for v in items) else items
    return _Missing


def target_of(module: nn.Module) -> str:
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def recover(module: nn.Module) -> dict[str, Any] | None:
    """The opaque block's ``target`` and ``arguments`` for ``module``, or None."""
    target = target_of(module)
    if not TARGET.fullmatch(target):
        return None
    try:
        signature = inspect.signature(type(module).__init__)
    except (TypeError, ValueError):
        return None
    kwargs: dict[str, Any] = {}
    for name, p in list(signature.parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = _json(getattr(module, name, _Missing))
        if value is not _Missing:
            kwargs[name] = value
        elif p.default is p.empty:
            return None  # a required argument the module does not keep
    return {"target": target, "arguments": json.dumps({"kwargs": kwargs})}


def opaque_spec(
    module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...], reason: str
) -> tuple[str, dict[str, Any]] | None:
    """The opaque block for ``module`` at these shapes, if its arguments are recovered and
    the rebuilt module is the same."""
    found = recover(module)
    if found is None:
        return None
    block = REGISTRY.get("opaque")
    params = block.validate(
        {
            **found,
            "in_shape": list(in_shape),
            "out_shape": list(out_shape),
            "parameters": sum(p.numel() for p in module.parameters()),
            "reason": reason[:200],
        }
    )
    try:
        with torch.device("meta"):  # no initialisation: it gets the module's own weights
            ours = block.build(params, [in_shape])
    except (ShapeError, TypeError, ValueError, RuntimeError):
        return None
    return ("opaque", params) if same_module(ours, module, in_shape) else None
