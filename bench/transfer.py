"""Transfer learning, measured offline on the built-in shapes.

1. Pretrain a small CNN on 6 of the 10 shapes (plenty of images).
2. Learn the other 4 shapes from few images (FEW per class), three ways, with the same
   number of steps:
   - scratch:   the 4-class network from its initialisation, every layer training;
   - frozen:    started from the pretrained weights (the classifier re-initialised, as the
                start notes say), everything before the classifier frozen;
   - fine-tune: started from them, every layer training, the backbone at ×0.1.
3. Report the final validation accuracy per seed, the mean and a 95% interval.

The runs go through the engine with the project-level features a user has (the ``weights``
setting, frozen nodes, learning-rate multipliers); only the class split is made here.
Usage: python bench/transfer.py [--quick] [--seeds N]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from app.core.experiments.stats import mean_interval
from app.core.graph import Graph, Learning
from app.core.training.config import TrainConfig
from app.core.training.data import Data, DatasetInfo, TensorSplit, load_data
from app.core.training.engine import Trainer
from app.core.training.events import RunFinished
from app.core.training.fine_tune import train_last
from app.core.training.portable.shapes import CLASSES

PRETRAIN_CLASSES = (0, 1, 2, 3, 4, 5)  # disk, square, diamond, ring, h-bar, v-bar
TARGET_CLASSES = (6, 7, 8, 9)  # plus, x, triangle, frame
#: t quantiles (two-sided 95%) for n - 1 degrees of freedom


def network(classes: int) -> Graph:
    g = Graph()
    prev = g.add_node("input", {"channels": 3, "height": 32, "width": 32}).id
    for width in (32, 64, 128):
        for type_id, params in (
            ("conv2d", {"out_channels": width, "padding": 1, "bias": False}),
            ("batchnorm2d", {}),
            ("relu", {}),
            ("maxpool2d", {"kernel_size": 2, "stride": 2}),
        ):
            node = g.add_node(type_id, params).id
            g.connect(prev, node)
            prev = node
    for type_id, params in (
        ("global_avgpool", {}),
        ("flatten", {}),
        ("linear", {"out_features": classes}),
    ):
        node = g.add_node(type_id, params).id
        g.connect(prev, node)
        prev = node
    return g


def subset(data: Data, classes: tuple[int, ...], per_class: int | None = None) -> Data:
    """The images of ``classes`` only, labelled 0..len-1 (``per_class``: the first that many
    training images of each)."""

    def part(split: TensorSplit, limit: int | None) -> TensorSplit:
        keep = []
        for c in classes:
            idx = (split.labels == c).nonzero().flatten()
            keep.append(idx[:limit] if limit else idx)
        order = torch.cat(keep).sort().values
        lookup = torch.full((10,), -1, dtype=torch.long)
        lookup[list(classes)] = torch.arange(len(classes))
        return TensorSplit(split.images[order], lookup[split.labels[order]])

    train = part(data.train, per_class)  # type: ignore[arg-type]
    val = part(data.val, None)  # type: ignore[arg-type]
    info = DatasetInfo(
        data.info.name,
        data.info.shape,
        tuple(CLASSES[c] for c in classes),
        data.info.mean,
        data.info.std,
        len(train),
        len(val),
    )
    return Data(info, train, val)


def train(graph: Graph, config: TrainConfig, data: Data, root: Path) -> tuple[float, Path, tuple]:
    trainer = Trainer(graph, config, runs_root=root, data=data)
    events = list(trainer.run())
    end = events[-1]
    if not isinstance(end, RunFinished):
        raise SystemExit(f"run failed: {end}")
    final = trainer.history[-1].val_acc
    notes = trainer.p.notes
    return final, Path(end.run_dir) / "checkpoints" / "last.pt", notes


def interval(values: list[float]) -> str:
    return mean_interval(values).text()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--few", type=int, default=5, help="training images per new class")
    parser.add_argument("--epochs", type=int, default=20, help="epochs on the new classes")
    args = parser.parse_args()
    torch.set_num_threads(2)
    quick = args.quick
    pre_images, pre_epochs = (600, 1) if quick else (8000, 4)
    few, epochs, val = (5, 2, 200) if quick else (args.few, args.epochs, 2000)
    base = {"dataset": "shapes", "batch_size": 16, "optimizer": "sgd", "momentum": 0.9}
    results: dict[str, list[float]] = {"scratch": [], "frozen": [], "fine-tune": []}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in range(args.seeds):
            common = {**base, "seed": seed, "train_size": pre_images, "val_size": val}
            full = load_data(TrainConfig.from_dict(common), torch.device("cpu"), (32, 32))
            pre = subset(full, PRETRAIN_CLASSES)
            pre_config = TrainConfig.from_dict(
                {**common, "epochs": pre_epochs, "batch_size": 64, "lr": 0.05}
            )
            pre_acc, weights, _ = train(network(6), pre_config, pre, root)
            target = subset(full, TARGET_CLASSES, few)
            val_images = target.info.val_size
            tune = {**common, "epochs": epochs, "lr": 0.02, "schedule": "cosine"}
            acc, _, _ = train(network(4), TrainConfig.from_dict(tune), target, root)
            results["scratch"].append(acc)
            g = network(4)
            for nid, value in train_last(g, 1).items():  # the classifier trains, no more
                g.set_learning(nid, value)
            config = TrainConfig.from_dict({**tune, "weights": str(weights)})
            acc, _, notes = train(g, config, target, root)
            results["frozen"].append(acc)
            g = network(4)
            for nid in g.nodes:
                if nid != "linear_1":
                    g.set_learning(nid, Learning(True, 0.1))
            acc, _, _ = train(g, config, target, root)
            results["fine-tune"].append(acc)
            print(
                f"seed {seed}: pretrained on {len(PRETRAIN_CLASSES)} shapes to "
                f"{pre_acc:.3f}; on {few}/class of the other {len(TARGET_CLASSES)}: "
                + ", ".join(f"{k} {v[-1]:.3f}" for k, v in results.items()),
                flush=True,
            )
    print(f"start notes of the frozen run: {'; '.join(notes)}")
    steps = math.ceil(few * len(TARGET_CLASSES) / 16) * epochs
    print(
        f"\nfinal validation accuracy on the 4 new shapes ({few} training images per class, "
        f"{steps} steps each, {val_images} validation images), "
        f"{args.seeds} seeds, mean ± 95% interval:"
    )
    for name, values in results.items():
        print(f"  {name:<10} {interval(values)}   ({', '.join(f'{v:.3f}' for v in values)})")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
