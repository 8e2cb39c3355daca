"""Step time of ResNet-18 with its backbone frozen (only the classifier trains) against full
training, measured side by side in one run: the engine's own training step, alternating
between the two prepared runs so that the machine's drift hits both alike.

Goal: frozen ≤ 0.5× full (backward stops at the classifier; the forward pass is the same).
Usage: python bench/frozen_step.py [--size 224] [--batch 16] [--steps 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import presets
from app.core.training.adapt import adapt_to_dataset
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.fine_tune import train_last


def prepared(frozen: bool, size: int, batch: int, root: Path) -> Trainer:
    graph = presets.get("resnet18").build()
    adapt_to_dataset(graph, (3, size, size), 10)
    if frozen:
        for nid, value in train_last(graph, 1).items():
            graph.set_learning(nid, value)
    config = TrainConfig.from_dict(
        {
            "dataset": "shapes",
            "train_size": max(16, batch * 2),
            "val_size": 10,
            "batch_size": batch,
            "device": "cpu",
        }
    )
    trainer = Trainer(graph, config, runs_root=root)
    trainer.prepare()
    trainer.p.freezing.train_mode(trainer.p.model)
    return trainer


def step_time(trainer: Trainer, images: torch.Tensor, labels: torch.Tensor) -> float:
    start = time.perf_counter()
    trainer.p.step(images, labels).loss.item()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            name: prepared(name == "frozen", args.size, args.batch, Path(tmp))
            for name in ("full", "frozen")
        }
        split = runs["full"].p.data.train
        images, labels = split.images[: args.batch], split.labels[: args.batch]  # type: ignore[attr-defined]
        for trainer in runs.values():  # warm-up: allocator, first-call costs
            step_time(trainer, images, labels)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.steps):
            for name, trainer in runs.items():
                times[name].append(step_time(trainer, images, labels))
    full, frozen = (statistics.median(times[n]) for n in ("full", "frozen"))
    trained = sum(p.numel() for p in runs["frozen"].p.model.parameters() if p.requires_grad)
    print(
        f"ResNet-18 at {args.size}×{args.size}, batch {args.batch}, {torch.get_num_threads()} "
        f"threads, median of {args.steps} steps each"
    )
    print(f"  full training      {full * 1000:8.0f} ms/step")
    print(f"  backbone frozen    {frozen * 1000:8.0f} ms/step  ({trained:,} parameters train)")
    print(f"  frozen / full      {frozen / full:8.2f}   (goal ≤ 0.5)")


if __name__ == "__main__":
    main()
