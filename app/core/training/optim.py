"""Optimizers from the training config."""

from __future__ import annotations

import torch
from torch import nn

from app.core.training.config import TrainConfig


def build_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    fused = fused_kwargs(params)
    if c.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=c.lr,
            momentum=c.momentum,
            nesterov=c.nesterov and c.momentum > 0,
            weight_decay=c.weight_decay,
            **fused,
        )
    if c.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if c.optimizer == "adam" else torch.optim.AdamW
        return cls(
            params,
            lr=c.lr,
            betas=(c.beta1, c.beta2),
            eps=c.eps,
            weight_decay=c.weight_decay,
            amsgrad=c.amsgrad,
            **fused,
        )
    if c.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=c.lr,
            alpha=c.alpha,
            eps=c.eps,
            momentum=c.momentum,
            weight_decay=c.weight_decay,
        )
    if c.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=c.lr, eps=c.eps, weight_decay=c.weight_decay)
    raise ValueError(f"unknown optimizer {c.optimizer!r}")


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
