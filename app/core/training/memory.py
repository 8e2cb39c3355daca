"""What a training step really holds, measured, to check :mod:`app.core.cost`'s figures:
the bytes autograd keeps for backward (``saved_tensors_hooks``: every tensor packed during the
forward pass and the loss, each storage once, parameters and buffers left out as weights),
and the bytes of the weights, gradients and optimizer state after a step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata  # the storage itself: views of one tensor share it


def saved_for_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of the unique storages autograd saves in the forward pass and cross-entropy
    loss. Works on the meta device too (no memory, no compute)."""
    state = {_storage(t) for t in (*model.parameters(), *model.buffers())}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage(t)
        if key not in state and key not in seen:
            seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.cross_entropy(model(x), y)
    return sum(seen.values())


def step_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes of the weights (parameters and buffers), gradients and optimizer state now."""

    def size(t: torch.Tensor) -> int:
        return t.numel() * t.element_size()

    weights = sum(size(p) for p in model.parameters()) + sum(size(b) for b in model.buffers())
    grads = sum(size(p.grad) for p in model.parameters() if p.grad is not None)
    state = sum(
        size(v)
        for per_param in optimizer.state.values()
        for v in per_param.values()
        if isinstance(v, torch.Tensor)
    )
    return {"weights": weights, "gradients": grads, "optimizer": state}
