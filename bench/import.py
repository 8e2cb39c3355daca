"""Import time against tracing alone: python bench/import.py [MODEL ...]

For each torchvision model (default: resnet152, the issue's goal of at most 3x), measured side
by side in one run, 3 repeats each, median:

- trace: ``torch.fx.symbolic_trace`` of the model, the floor any fx-based import pays;
- import: NetBuilder's whole import (trace, traced shapes, mapping onto blocks, the shape check)
  without and with the output comparison (``verify``: compile, load the weights, two forward
  passes of each model at 224x224).

Prints the times and the ratios import/trace. The window runs the same import in a separate
process (File > Import PyTorch Model...), so its canvas keeps painting meanwhile.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torchvision
from torch import fx

from app.core.imports.fx_map import import_model


def timed(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(names: list[str]) -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"{'model':<16}{'trace':>9}{'import':>9}{'+verify':>9}{'ratio':>8}{'ratio+v':>9}")
    for name in names:
        model = torchvision.models.get_model(name, weights=None).eval()
        trace = timed(lambda m=model: fx.symbolic_trace(m))
        plain = timed(lambda m=model: import_model(m, verify=False))
        full = timed(lambda m=model: import_model(m), repeats=1)
        print(
            f"{name:<16}{trace:>8.2f}s{plain:>8.2f}s{full:>8.2f}s"
            f"{plain / trace:>7.1f}x{full / trace:>8.1f}x"
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet152"])
