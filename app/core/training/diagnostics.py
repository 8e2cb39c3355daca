"""Sanity tools before a long run: the LR range test and overfitting one batch, plus
evaluating an ensemble of saved checkpoints."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from app.core.graph import Graph
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.evaluate import EvalResult
from app.core.training.optim import set_lr
from app.core.training.prepared import PreparedRun


@dataclass(frozen=True)
class LRFinderResult:
    lrs: tuple[float, ...]
    losses: tuple[float, ...]  # exponentially smoothed
    suggested: float  # where the smoothed loss falls fastest


def lr_range_test(
    graph: Graph, config: TrainConfig, *, start: float = 1e-6, end: float = 10.0, steps: int = 100
) -> LRFinderResult:
    """Smith's LR range test: raise the LR exponentially from ``start`` to ``end`` over
    ``steps`` training steps and record the loss; stop once it diverges (4× the best)."""
    trainer = Trainer(graph, config)
    trainer.prepare()
    run = trainer.p
    run.freezing.train_mode(run.model)
    factor = (end / start) ** (1 / max(1, steps - 1))
    lrs, losses = [], []
    smooth, best = 0.0, math.inf
    batches = _forever(run)
    for i in range(steps):
        lr = start * factor**i
        set_lr(run.opt, lr)
        loss = run.step(*next(batches)).loss.item()
        smooth = 0.9 * smooth + 0.1 * loss  # exponential average, bias-corrected below
        corrected = smooth / (1 - 0.9 ** (i + 1))
        if not math.isfinite(corrected) or corrected > 4 * best:
            break
        best = min(best, corrected)
        lrs.append(lr)
        losses.append(corrected)
    slopes = [(losses[i + 1] - losses[i]) for i in range(len(losses) - 1)]
    k = min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0
    return LRFinderResult(tuple(lrs), tuple(losses), lrs[k] if lrs else start)


@dataclass(frozen=True)
class OverfitResult:
    steps: int
    first_loss: float
    final_loss: float
    accuracy: float

    @property
    def passed(self) -> bool:
        """A network that can learn drives one batch to (almost) perfect accuracy."""
        return self.accuracy >= 0.99 and self.final_loss < 0.1 * self.first_loss


def overfit_one_batch(graph: Graph, config: TrainConfig, steps: int = 200) -> OverfitResult:
    """Train on a single batch without augmentation: the loss should go to ~0. If it does not,
    the network, the loss or the learning rate is broken."""
    plain = config.replace(
        crop_padding=0,
        hflip=False,
        vflip=False,
        color_jitter=0.0,
        cutout=0,
        mixup_alpha=0.0,
        weight_decay=0.0,
    )
    trainer = Trainer(graph, plain)
    trainer.prepare()
    run = trainer.p
    run.freezing.train_mode(run.model)
    images, labels = next(_forever(run))
    first = last = math.nan
    for i in range(steps):
        last = run.step(images, labels).loss.item()
        if i == 0:
            first = last
    run.model.eval()
    with torch.no_grad():
        out = run.model(run.prep(images))[:, : run.classes]
        acc = (out.argmax(1) == labels).float().mean().item()
    return OverfitResult(steps, first, last, acc)


def _forever(run: PreparedRun) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    epoch = 0
    while True:
        order = torch.Generator().manual_seed(run.config.seed + epoch)
        yield from run.data.train.batches(
            run.batch_size, shuffle=True, generator=order, drop_last=run.drop_last
        )
        epoch += 1


def evaluate_checkpoints(
    graph: Graph, config: TrainConfig, paths: Sequence[str | Path]
) -> EvalResult:
    """Validation loss/accuracy of the averaged softmax of several saved checkpoints (or
    snapshots) of the same graph."""
    trainer = Trainer(graph, config)
    trainer.prepare()
    return trainer.evaluate_ensemble(paths)
