"""Training throughput, measured side by side in one run (the machines are noisy).

(a) a minimal hand-written PyTorch loop on a hand-written model, on pre-normalised tensors;
(b) the engine training the compiled graph of the same architecture (augmentation off,
    reporting every 20 steps as in the app);
(c) the engine's speed-ups from channels_last and bf16 autocast on CIFAR ResNet-18.

Goal: (b)/(a) ≥ 0.97 on CPU; channels_last ≥ 1.0×; bf16 ≥ 1.5× on CPUs with AMX.
Usage: python bench/train_throughput.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

import presets
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import EpochReport
from app.core.training.portable.shapes import make_shapes


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(out)) + self.short(x))


class ResNet18Cifar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        )
        layers, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            for j in range(2):
                layers.append(Block(cin, cout, 2 if i and j == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layers(self.stem(x)).mean((2, 3)))


def hand_loop(model_cls, channels: int, size: int, batch: int, steps: int) -> float:
    """Images/s of the plainest correct loop."""
    torch.manual_seed(0)
    x, y = make_shapes(batch * steps, size, channels, seed=1)
    x = (x - x.mean()) / x.std()
    model = model_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()
    start = time.perf_counter()
    for i in range(steps):
        xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss.item()
    return batch * steps / (time.perf_counter() - start)


def engine(preset: str, dataset: str, batch: int, steps: int, **options) -> float:
    config = TrainConfig.from_dict(
        {
            "dataset": dataset,
            "train_size": batch * steps,
            "val_size": 10,
            "batch_size": batch,
            "epochs": 1,
            "lr": 0.01,
            "report_every": 20,
            **options,
        }
    )
    with tempfile.TemporaryDirectory() as runs:
        trainer = Trainer(presets.get(preset).build(), config, runs_root=Path(runs))
        for event in trainer.run():
            if isinstance(event, EpochReport):
                return event.images_per_sec
    raise RuntimeError("the run did not finish")


def main() -> None:
    quick = "--quick" in sys.argv
    torch.set_num_threads(torch.get_num_threads())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    cases = [
        ("LeNet-5", LeNet5, "lenet5", "shapes_gray", 1, 28, 128, 150 if quick else 300),
        (
            "CIFAR ResNet-18",
            ResNet18Cifar,
            "resnet18_cifar",
            "shapes",
            3,
            32,
            64,
            4 if quick else 8,
        ),
    ]
    reps = 2 if quick else 3
    for title, cls, preset, dataset, ch, size, batch, steps in cases:
        a, b = [], []
        for _ in range(reps):  # interleaved
            a.append(hand_loop(cls, ch, size, batch, steps))
            b.append(engine(preset, dataset, batch, steps))
        ma, mb = statistics.median(a), statistics.median(b)
        print(
            f"{title:16} (a) hand-written {ma:8.1f} img/s   (b) engine {mb:8.1f} img/s   "
            f"(b)/(a) = {mb / ma:.3f}   (goal ≥ 0.97)"
        )
    base, cl, bf = [], [], []
    for _ in range(reps):
        base.append(engine("resnet18_cifar", "shapes", 64, cases[1][-1]))
        cl.append(engine("resnet18_cifar", "shapes", 64, cases[1][-1], channels_last=True))
        bf.append(engine("resnet18_cifar", "shapes", 64, cases[1][-1], amp="bf16"))
    mb = statistics.median(base)
    print(
        f"CIFAR ResNet-18 engine: fp32 {mb:.1f} img/s   channels_last "
        f"{statistics.median(cl) / mb:.2f}× (goal ≥ 1.0)   bf16 autocast "
        f"{statistics.median(bf) / mb:.2f}× (goal ≥ 1.5 with AMX)"
    )


if __name__ == "__main__":
    main()
