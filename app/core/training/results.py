"""What a finished run shows: confusion matrix, per-class accuracy and sample predictions on
the validation set, with the best checkpoint's weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.core.torch_files import load_tensors
from app.core.training.evaluate import predict
from app.core.training.events import RunResults

__all__ = ["RunResults", "evaluate_run", "results_from"]


def evaluate_run(trainer, samples: int = 32) -> RunResults:
    """Score the validation set with the run's best checkpoint (the current weights when there
    is none). ``trainer`` is a :class:`~app.core.training.engine.Trainer` after its run."""
    run = trainer.p
    assert trainer.run_dir is not None
    path = trainer.run_dir.checkpoint_path("best")
    used = "current weights"
    if path.exists():
        state = load_tensors(path, run.device, "checkpoint")
        run.model.load_state_dict(state["model"])
        used = str(Path(path))
    probs, labels = predict(
        [run.model],
        run.data.val,
        run.prep,
        run.config.batch_size * 2,
        autocast=run.autocast,
        classes=run.classes,
    )
    return results_from(probs, labels, run.data, str(trainer.run_dir.path), used, samples=samples)


def results_from(
    probs: torch.Tensor,
    labels: torch.Tensor,
    data,
    run_dir: str,
    checkpoint: str,
    samples: int = 32,
) -> RunResults:
    """Build :class:`RunResults` from softmax outputs and labels of ``data.val`` (in order)."""
    classes = data.info.classes
    k = len(classes)
    probs, labels = probs.float().cpu(), labels.cpu()
    conf, pred = probs.max(1)
    confusion = torch.bincount(labels * k + pred, minlength=k * k).view(k, k)
    wrong = (pred != labels).nonzero().flatten()
    right = (pred == labels).nonzero().flatten()
    wrong = wrong[conf[wrong].argsort(descending=True)]
    chosen = torch.cat([wrong, right])[:samples]
    picked: dict[int, torch.Tensor] = {}
    offset = 0
    for images, _ in data.val.batches(256, shuffle=False):  # the same order as ``probs``
        n = len(images)
        for i in chosen.tolist():
            if offset <= i < offset + n:
                picked[i] = images[i - offset].cpu()
        offset += n
    order = chosen.tolist()
    return RunResults(
        run_dir,
        checkpoint,
        tuple(classes),
        tuple(tuple(int(v) for v in row) for row in confusion.tolist()),
        float((pred == labels).float().mean()) if len(labels) else 0.0,
        torch.stack([picked[i] for i in order]).numpy()
        if order
        else np.zeros((0, 1, 1, 1), np.uint8),
        tuple(int(labels[i]) for i in order),
        tuple(int(pred[i]) for i in order),
        tuple(float(conf[i]) for i in order),
    )
