"""Does Grad-CAM look at the object? After a short run on the built-in shapes (whose object
boxes are known), how often the peak of the map lies inside the box, on the correctly
classified validation images, against chance (the box's share of the image); saliency too.

Usage: python bench/gradcam.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import presets
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.inside.gradcam import default_cam_node, gradcam, localisation, saliency

RUNS = {
    "lenet5": {"dataset": "shapes_gray", "epochs": 4, "train_size": 10000, "val_size": 1000},
    "resnet18_cifar": {
        "dataset": "shapes",
        "epochs": 2,
        "train_size": 4000,
        "val_size": 500,
        "batch_size": 64,
        "lr": 0.05,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="LeNet-5, one short epoch")
    args = parser.parse_args()
    torch.set_num_threads(2)
    runs = {"lenet5": {**RUNS["lenet5"], "epochs": 1, "train_size": 2000, "val_size": 200}}
    for name, settings in (runs if args.quick else RUNS).items():
        started = time.perf_counter()
        graph = presets.get(name).build()
        config = TrainConfig.from_dict(settings)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(graph, config, runs_root=Path(tmp))
            list(trainer.run())
        run = trainer.p
        val = run.data.val
        x = run.prep(val.images)  # type: ignore[attr-defined]
        labels = val.labels  # type: ignore[attr-defined]
        node = default_cam_node(graph)
        cam = gradcam(run.model, graph, node, x)
        correct = cam.predicted == labels
        boxes = run.data.val_boxes
        assert boxes is not None
        found = localisation(cam.heat, boxes, correct)
        sal = localisation(saliency(run.model, x).heat, boxes, correct)
        accuracy = float(correct.float().mean())
        print(
            f"{name}: validation accuracy {accuracy:.3f} after {config.epochs} epoch(s) "
            f"({time.perf_counter() - started:.0f} s)"
        )
        print(f"  Grad-CAM at {graph.module_names()[node]}: {found.text}")
        print(f"  saliency: {sal.text}")


if __name__ == "__main__":
    main()
