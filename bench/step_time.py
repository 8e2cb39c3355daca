"""Pre-flight step time (issue 21): predicted from per-layer MACs and memory traffic with the
device's calibration (app/core/training/calibrate.py, measured once and cached), against the
measured time of a training step, for the CIFAR presets (and LeNet-5) side by side.

Usage: python bench/step_time.py [--batch 32] [--steps 5] [--refresh] [--presets a,b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

import presets
from app.core.compiler import compile_graph
from app.core.cost import step_seconds
from app.core.shapes import check
from app.core.training.calibrate import calibration

CIFAR = ("lenet5", "alexnet_cifar", "vgg_cifar", "nin_cifar", "squeezenet_cifar",
         "resnet18_cifar", "preact_resnet18_cifar", "se_resnet18_cifar", "resnet34_cifar",
         "resnet50_cifar", "googlenet_cifar")  # fmt: skip


def measured_step(name: str, batch: int, steps: int) -> float:
    graph = presets.get(name).build()
    report = check(graph)
    model = compile_graph(graph, report).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *report.nodes[report.input_id].shape)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if i:  # the first step allocates
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--refresh", action="store_true", help="measure the device again")
    parser.add_argument("--presets", help="comma-separated names")
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    calib = calibration(torch.device("cpu"), refresh=args.refresh)
    print(f"calibration ({time.perf_counter() - start:.1f} s): conv "
          + ", ".join(f"{d:.0f}→{f / 1e9:.1f}" for d, f in calib["conv"])
          + f" GFLOP/s by depth; linear {calib['linear_flops'] / 1e9:.1f} GFLOP/s; "
          f"bandwidth {calib['bandwidth'] / 1e9:.1f} GB/s; pooling "
          + ", ".join(f"{k} {v * 1e9:.1f} ns" for k, v in calib.get("pool_s_per_out", {}).items())
          + f" an output; {calib['overhead_s'] * 1e6:.0f} µs a layer call")  # fmt: skip
    names = args.presets.split(",") if args.presets else CIFAR
    ratios = []
    print(f"{'preset':<24}{'predicted':>11}{'measured':>11}{'ratio':>8}   (batch {args.batch})")
    for name in names:
        graph = presets.get(name).build()
        predicted = step_seconds(graph, check(graph), args.batch, calib)
        real = measured_step(name, args.batch, args.steps)
        ratios.append(predicted / real)
        mark = "" if 0.65 <= predicted / real <= 1.35 else "   outside ±35%"
        print(
            f"{name:<24}{predicted * 1e3:>9.1f}ms{real * 1e3:>9.1f}ms{predicted / real:>8.2f}{mark}"
        )
    inside = sum(0.65 <= r <= 1.35 for r in ratios)
    print(f"{inside} of {len(ratios)} within ±35%; ratios {min(ratios):.2f}–{max(ratios):.2f}")


if __name__ == "__main__":
    main()
