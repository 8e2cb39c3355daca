"""Augmentation preview: the exact tensors the engine trains on at a given step with the
current settings (crop, flips, colour jitter, cutout, mixup), beside the images they came
from.

The run is prepared as the engine prepares it, and its batches and augmentation generators
are replayed from step 0 (the data order is a pure function of the seed and the epoch; the
augmentation draws from generators seeded from the seed), so step ``k`` here is step ``k``
of a run with these settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from app.core.graph import Graph
from app.core.training.config import TrainConfig


@dataclass(frozen=True)
class AugmentedBatch:
    step: int
    originals: torch.Tensor  # uint8 (N, C, H, W), as loaded
    augmented: torch.Tensor  # float (N, C, H, W), normalised: what the network is given
    targets: torch.Tensor  # class indices, or soft targets (N, classes) with mixup
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    labels: torch.Tensor  # the originals' classes

    def viewable(self) -> torch.Tensor:
        """The augmented images back in [0, 1] (undo the normalisation), for display."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (self.augmented.cpu() * std + mean).clamp(0, 1)


def preview(graph: Graph, config: TrainConfig, step: int = 0, count: int = 16) -> AugmentedBatch:
    """The first ``count`` images of training step ``step`` (0-based) before and after
    augmentation, with their targets."""
    from app.core.training.distributed import DistInfo
    from app.core.training.engine import resolve_device
    from app.core.training.prepared import PreparedRun

    # on the run's device (a CUDA generator draws other numbers than the CPU's); the
    # starting weights do not change the batches: none are loaded (or downloaded)
    device = resolve_device(config.device)
    run = PreparedRun.build(graph, config, device, DistInfo(), starting=False)
    if step < 0 or step >= run.total:
        raise ValueError(f"step {step}: this run has steps 0 to {run.total - 1}")
    epoch, index = divmod(step, run.spe)
    done = 0
    for e in range(epoch + 1):
        for i, (images, labels) in enumerate(run.epoch_batches(e)):
            x, y = run.aug.train(images, labels, run.classes)  # the engine's own call
            if e == epoch and i == index:
                info = run.data.info
                return AugmentedBatch(
                    step,
                    images[:count].cpu(),
                    x[:count].cpu(),
                    y[:count].cpu(),
                    info.mean,
                    info.std,
                    info.classes,
                    labels[:count].cpu(),
                )
            done += 1
    raise AssertionError(f"step {step} not reached after {done} batches")  # spe says otherwise
