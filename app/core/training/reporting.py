"""The steps between two reports: what they leave on the device, and the report made of it.

A training step only appends its loss and correct count (device tensors) to the interval; the
report reads them back, with the per-layer statistics, in one host transfer. For a small
network every extra tiny op per step costs a few percent of the throughput, and on a GPU every
read-back waits for all queued kernels, so nothing else is read or reduced per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from app.core.compiler import node_modules
from app.core.training.errors import NonFiniteLoss
from app.core.training.events import HISTOGRAM_EDGES, LayerStat, StepReport

Groups = dict[str, list[nn.Parameter]]


def activation_histograms(model: nn.Module, names: list[str], x: torch.Tensor) -> torch.Tensor:
    """(layers, bins) shares of each named node's outputs in the HISTOGRAM_EDGES bins, for a
    forward pass of ``x`` in evaluation mode without gradients: on the device, no host sync
    (the report reads them with its other numbers). The caller restores the training mode."""
    modules = node_modules(model)
    edges = torch.tensor(HISTOGRAM_EDGES, device=x.device)
    rows: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_module, _inputs, output):
            values = output.detach().float().flatten()
            counts = torch.bincount(torch.bucketize(values, edges), minlength=len(edges) + 1)
            rows[name] = counts.float() / max(values.numel(), 1)

        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in names if n in modules]
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return torch.stack([rows[n] for n in names])


def param_groups(model: nn.Module) -> Groups:
    """Trainable parameters grouped by node id (a compiled model's nodes in order)."""
    groups: Groups = {}
    for nid, module in node_modules(model).items():
        params = [p for p in module.parameters() if p.requires_grad]
        if params:
            groups[nid] = params
    return groups


def weights_before(groups: Groups) -> dict[str, list[torch.Tensor]]:
    """Copies of the weights before an optimizer step (for the update/weight ratio)."""
    return {n: [p.detach().clone() for p in ps] for n, ps in groups.items()}


def layer_norms(
    groups: Groups, before: dict[str, list[torch.Tensor]], gnorm: torch.Tensor
) -> torch.Tensor:
    """Per node: gradient norm, weight norm, update norm; a last row holds the total gradient
    norm (stacked on the device)."""
    rows = []
    for name, params in groups.items():
        g = torch.stack(
            [p.grad.norm() if p.grad is not None else p.new_zeros(()) for p in params]
        ).norm()
        w = torch.stack([p.detach().norm() for p in params]).norm()
        u = torch.stack(
            [(p.detach() - b).norm() for p, b in zip(params, before[name], strict=True)]
        ).norm()
        rows.append(torch.stack([g, w, u]).float())
    rows.append(torch.stack([gnorm.float(), gnorm.float(), gnorm.float()]))
    return torch.stack(rows)


class Interval:
    """The steps since the last report. ``sums`` is the epoch's (loss·n, correct, n) on the
    device, which :meth:`close` adds these steps to."""

    def __init__(self, sums: torch.Tensor) -> None:
        self.sums = sums
        self.clear()

    def clear(self) -> None:
        """Start the next interval (its clock too)."""
        self.steps: list[int] = []
        self.lrs: list[float] = []
        self.losses: list[torch.Tensor] = []
        self.corrects: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.seen = 0
        self.started = time.perf_counter()

    def __len__(self) -> int:
        return len(self.steps)

    def age(self) -> float:
        """Seconds since the interval started (pauses excluded)."""
        return time.perf_counter() - self.started

    def exclude(self, seconds: float) -> None:
        """Leave time out of the throughput (a pause)."""
        self.started += seconds

    def add(self, step: int, lr: float, loss: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        self.steps.append(step)
        self.lrs.append(lr)
        self.losses.append(loss.detach())
        self.corrects.append(correct)
        self.sizes.append(n)
        self.seen += n

    def close(self) -> torch.Tensor:
        """Add these steps to the epoch's sums, on the device; the number of correct
        predictions among them. No host sync, and no copy from the host either (on CUDA a
        small copy from pageable memory waits for the stream): batch sizes enter as Python
        numbers, except when they differ (the short last batch of an epoch)."""
        hits = torch.stack(self.corrects).sum()
        loss = torch.stack(self.losses).double()
        if len(set(self.sizes)) == 1:
            loss_sum = loss.sum() * self.sizes[0]
        else:
            loss_sum = (loss * loss.new_tensor(self.sizes)).sum()
        self.sums[0] += loss_sum
        self.sums[1] += hits
        self.sums[2] += float(sum(self.sizes))
        return hits

    def report(
        self,
        step: int,
        epoch: int,
        total: int,
        groups: Groups,
        norms: torch.Tensor | None,
        locate: Callable[[], str | None],
        histograms: torch.Tensor | None = None,
    ) -> StepReport:
        """Close the interval and read it back: the one host sync of the interval. A NaN/Inf
        loss raises :class:`NonFiniteLoss`, naming the layer ``locate`` finds.
        ``histograms``: (layers, bins) activation shares, one row per group, read back too."""
        hits = self.close()
        flat = [torch.stack(self.losses).float(), hits.float().view(1)]
        if norms is not None:
            flat.append(norms.flatten())
        if norms is not None and histograms is not None:
            flat.append(histograms.flatten().float())
        values = torch.cat(flat).tolist()
        n = len(self.losses)
        losses, correct = values[:n], values[n]
        if not all(math.isfinite(v) for v in losses):
            first = next(i for i, v in enumerate(losses) if not math.isfinite(v))
            raise NonFiniteLoss(self.steps[first], epoch, self.lrs[first], losses[-1], locate())
        layers: tuple[LayerStat, ...] = ()
        gnorm = math.nan
        if norms is not None:
            rows = [values[n + 1 + 3 * k : n + 4 + 3 * k] for k in range(len(groups) + 1)]
            gnorm = rows[-1][0]
            bins = len(HISTOGRAM_EDGES) + 1
            start = n + 1 + 3 * (len(groups) + 1)
            hists = [
                tuple(values[start + bins * k : start + bins * (k + 1)])
                if histograms is not None
                else ()
                for k in range(len(groups))
            ]
            layers = tuple(
                LayerStat(name, g, w, u / w if w else 0.0, h)
                for name, (g, w, u), h in zip(groups, rows, hists, strict=False)
            )
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        report = StepReport(
            step,
            epoch,
            tuple(self.steps),
            tuple(losses),
            tuple(self.lrs),
            correct / max(self.seen, 1),
            self.seen / elapsed,
            (total - step) * elapsed / max(n, 1),
            gnorm,
            layers,
        )
        return report
