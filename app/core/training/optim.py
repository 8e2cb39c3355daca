"""Optimizers from the training config, built from their specs in the options registry."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from app.core.training.config import TrainConfig
from app.core.training.options import OPTIMIZERS


def optimizer_class(path: str) -> type[torch.optim.Optimizer]:
    """The class an optimizer spec names (``torch.optim.SGD``)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer over the model's trainable parameters."""
    spec = OPTIMIZERS[c.optimizer]
    params = [p for p in model.parameters() if p.requires_grad]
    fused = fused_kwargs(params) if spec.fused else {}
    return optimizer_class(spec.cls)(params, lr=c.lr, **spec.arguments(c), **fused)


def fused_kwargs(params: list[torch.Tensor]) -> dict[str, bool]:
    """On CUDA, SGD, Adam and AdamW use their fused kernels: one launch for all parameters, and
    with fp16 mixed precision no host sync per step (GradScaler hands a fused optimizer its
    inf check as a tensor instead of reading it back). Elsewhere torch's default."""
    return {"fused": True} if params and all(p.is_cuda for p in params) else {}


def add_l1_gradient(weights: list[torch.Tensor], strength: float) -> None:
    """The gradient of the L1 penalty ``strength · Σ|w|``, added to each weight's gradient:
    ``strength · sign(w)`` (a subgradient: 0 at w = 0). Like weight decay it is left out of
    the reported loss. Weights without a gradient (unused this step) are skipped."""
    pairs = [(w.grad, w.detach()) for w in weights if w.grad is not None]
    if pairs:
        grads, values = zip(*pairs, strict=True)
        torch._foreach_add_(list(grads), torch._foreach_sign(list(values)), alpha=strength)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
