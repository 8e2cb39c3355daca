"""Optimizers from the training config, built from their specs in the options registry."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from app.core.training.config import TrainConfig
from app.core.training.errors import TrainingFailure
from app.core.training.options import OPTIMIZERS


def optimizer_class(path: str) -> type[torch.optim.Optimizer]:
    """The class an optimizer spec names (``torch.optim.SGD``)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build_optimizer(
    model: nn.Module, c: TrainConfig, groups: list[dict] | None = None
) -> torch.optim.Optimizer:
    """The configured optimizer over the model's trainable parameters, or over ``groups``
    (each ``{"params": […], "lr_mult": m}``: its rate is m × the scheduled one)."""
    spec = OPTIMIZERS[c.optimizer]
    if groups is None:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr_mult": 1.0}]
    groups = [{**g, "lr": c.lr * g["lr_mult"]} for g in groups if g["params"]]
    params = [p for g in groups for p in g["params"]]
    if not params:
        raise TrainingFailure(
            "graph", "every layer is frozen: nothing would train. Unfreeze the classifier at least"
        )
    fused = fused_kwargs(params) if spec.fused else {}
    return optimizer_class(spec.cls)(groups, lr=c.lr, **spec.arguments(c), **fused)


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


def scheduled_lr(optimizer: torch.optim.Optimizer) -> float:
    """The scheduled rate (the first group's, without its multiplier)."""
    group = optimizer.param_groups[0]
    return group["lr"] / group.get("lr_mult", 1.0)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the scheduled rate: each group gets it times its ``lr_mult``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
