"""Evaluation: loss and top-1/top-5 accuracy, test-time augmentation, ensembles of snapshots
or checkpoints, and locating the first layer that produces non-finite values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import fx, nn

from app.core.compiler import node_modules, node_of_module
from app.core.training.data import Split


@dataclass(frozen=True)
class EvalResult:
    loss: float
    acc: float
    top5: float


Prep = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict(
    models: Sequence[nn.Module],
    split: Split,
    prep: Prep,
    batch_size: int,
    *,
    tta: str = "none",
    autocast: Callable | None = None,
    classes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Averaged softmax of ``models`` (one, an ensemble, optionally over horizontal flips) for
    every sample, and the labels. ``classes``: score only the first that many outputs (a
    network with more outputs than the dataset has classes, e.g. ImageNet's 1,000 on 10)."""
    for m in models:
        m.eval()
    probs, labels = [], []
    for images, y in split.batches(batch_size, shuffle=False):
        x = prep(images)
        views = tta_views(x, tta)
        total = None
        for m in models:
            for v in views:
                with autocast() if autocast else nullcontext():
                    p = torch.softmax(m(v)[:, :classes].float(), dim=1)
                total = p if total is None else total + p
        probs.append(total / (len(models) * len(views)))  # type: ignore[operator]
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


def tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """The batch as the model sees it under test-time augmentation: itself, its mirror image,
    and (flip_crops) four copies shifted by 2 pixels with zero fill, as random crops would."""
    if mode == "none":
        return [x]
    views = [x, x.flip(-1)]
    if mode == "flip_crops" and x.ndim == 4:
        padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
        h, w = x.shape[-2:]
        views += [
            padded[..., dy : dy + h, dx : dx + w] for dy, dx in ((0, 0), (0, 4), (4, 0), (4, 4))
        ]
    return views


def score(probs: torch.Tensor, labels: torch.Tensor) -> EvalResult:
    """Negative log-likelihood, top-1 and top-5 accuracy of averaged probabilities (one sync)."""
    nll = torch.nn.functional.nll_loss(probs.clamp_min(1e-12).log(), labels)
    top1 = (probs.argmax(1) == labels).float().mean()
    k = min(5, probs.shape[1])
    top5 = (probs.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean()
    loss, acc, acc5 = torch.stack([nll, top1, top5]).tolist()
    return EvalResult(loss, acc, acc5)


def evaluate(
    models: Sequence[nn.Module],
    split: Split,
    prep: Prep,
    batch_size: int,
    *,
    tta: str = "none",
    autocast: Callable | None = None,
    classes: int | None = None,
) -> EvalResult:
    return score(
        *predict(models, split, prep, batch_size, tta=tta, autocast=autocast, classes=classes)
    )


@torch.no_grad()
def first_nonfinite_layer(model: fx.GraphModule, x: torch.Tensor) -> str | None:
    """Node id of the first module (in execution order) whose output has NaN or Inf, or whose
    parameters do; None if the forward is finite everywhere."""
    for nid, module in node_modules(model).items():
        if any(not torch.isfinite(p).all() for p in module.parameters()):
            return nid
    node_of = node_of_module(model)
    found: list[str] = []

    class Probe(fx.Interpreter):
        def run_node(self, n: fx.Node) -> object:
            out = super().run_node(n)
            if (
                not found
                and n.op == "call_module"
                and isinstance(out, torch.Tensor)
                and not torch.isfinite(out).all()
            ):
                found.append(node_of.get(str(n.target), str(n.target)))
            return out

    model.eval()
    Probe(model).run(x)
    return found[0] if found else None
