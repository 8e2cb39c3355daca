"""The ``tensorboard`` setting: a run's metrics also as TensorBoard event files, in the run
folder's ``tensorboard/`` (``tensorboard --logdir RUNS_FOLDER`` then shows every run side by
side), so users keep their usual tools. Written by torch's own SummaryWriter; the
``tensorboard`` package is an optional dependency (``pip install netbuilder[tensorboard]``),
checked when the setting is chosen."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from app.core.training.events import EpochReport, Event, RunFailed, RunFinished, StepReport

FOLDER = "tensorboard"


def missing() -> str | None:
    """Why the log cannot be written (the package is not installed), or None."""
    if importlib.util.find_spec("tensorboard") is None:
        return (
            "the tensorboard package is not installed: pip install tensorboard "
            "(or pip install -e '.[tensorboard]')"
        )
    return None


class TensorBoardLog:
    """Scalars per step (loss, learning rate, train accuracy, images/s, each layer's
    update/weight ratio) and per epoch (losses, accuracies, top-5, learning rate)."""

    def __init__(self, run_folder: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = Path(run_folder) / FOLDER
        self.writer = SummaryWriter(str(self.path))

    def add(self, event: Event) -> None:
        w = self.writer
        if isinstance(event, StepReport):
            for step, loss, lr in zip(event.steps, event.losses, event.lrs, strict=False):
                w.add_scalar("train/loss", loss, step)
                w.add_scalar("train/lr", lr, step)
            w.add_scalar("train/accuracy", event.train_acc, event.step)
            w.add_scalar("train/images_per_sec", event.images_per_sec, event.step)
            for layer in event.layers:
                w.add_scalar(f"layers/{layer.node_id}/update_ratio", layer.update_ratio, event.step)
        elif isinstance(event, EpochReport):
            for name in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "lr"):
                w.add_scalar(f"epoch/{name}", getattr(event, name), event.epoch)
        elif isinstance(event, RunFinished | RunFailed):
            self.close()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
