"""Frozen nodes and learning-rate multipliers (fine-tuning), applied to a compiled model.

A frozen node's parameters get ``requires_grad=False`` (backward stops where nothing below
needs a gradient, and the optimizer never sees them), and its normalisation layers stay in
evaluation mode during training, so their running statistics do not move. The trainable
parameters are grouped by their node's multiplier; each optimizer group keeps its ``lr_mult``
and :func:`app.core.training.optim.set_lr` scales the scheduled rate by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from app.core.compiler import node_modules
from app.core.graph import Graph

#: normalisation layers whose running statistics a frozen node keeps
_NORMS = (nn.modules.batchnorm._BatchNorm,)


@dataclass
class Freezing:
    """What :func:`freeze` did to a model: the frozen node ids, their normalisation layers
    (kept in evaluation mode) and the number of frozen parameters."""

    nodes: list[str] = field(default_factory=list)
    norms: list[nn.Module] = field(default_factory=list)
    frozen_params: int = 0

    def train_mode(self, model: nn.Module) -> None:
        """``model.train()``, except the frozen normalisation layers."""
        model.train()
        for m in self.norms:
            m.eval()


def freeze(model: nn.Module, graph: Graph) -> Freezing:
    """Freeze the parameters of the graph's frozen nodes in ``model`` (compiled from it)."""
    done = Freezing()
    frozen = graph.frozen()
    for nid, module in node_modules(model).items():
        if nid not in frozen or not any(True for _ in module.parameters()):
            continue  # a layer without weights has nothing to freeze
        done.nodes.append(nid)
        for p in module.parameters():
            if p.requires_grad:
                p.requires_grad_(False)
                done.frozen_params += p.numel()
        done.norms += [m for m in module.modules() if isinstance(m, _NORMS)]
    return done


def optimizer_groups(model: nn.Module, graph: Graph) -> list[dict]:
    """The trainable parameters as optimizer groups, one per learning-rate multiplier (in
    the order the multipliers first appear), each with its ``lr_mult``."""
    by_mult: dict[float, list[nn.Parameter]] = {}
    seen: set[int] = set()
    modules = node_modules(model)
    for nid, module in modules.items():
        mult = graph.node(nid).learning.lr_mult if nid in graph.nodes else 1.0
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                by_mult.setdefault(mult, []).append(p)
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    if rest:  # parameters outside every node (none in a compiled graph)
        by_mult.setdefault(1.0, []).extend(rest)
    return [{"params": ps, "lr_mult": mult} for mult, ps in by_mult.items()]
