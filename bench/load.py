"""Time loading project files whose edges are listed in order and in reverse (issue 15.6).

Prints, for chains of 2,000 / 4,000 / 8,000 nodes, the median load time with edges in order
and reversed, side by side in one run, and the ratio reversed / in order (goal: about 1, and
time growing linearly with the node count).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from app.core.serialization import loads


def chain_file(n: int, reverse: bool) -> str:
    nodes = [{"id": "input_1", "type": "input", "params": {"channels": 1, "height": 8, "width": 8}}]
    nodes += [{"id": f"relu_{i}", "type": "relu"} for i in range(1, n - 1)]
    nodes.append({"id": "output_1", "type": "output", "params": {"classes": 64}})
    ids = [node["id"] for node in nodes]
    edges = [{"src": a, "dst": b, "port": 0} for a, b in itertools.pairwise(ids)]
    if reverse:
        edges.reverse()
    doc = {"format": "netbuilder-project", "version": 1, "name": "chain", "nodes": nodes}
    return json.dumps({**doc, "edges": edges, "training": {}, "view": {}})


def median_load(text: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loads(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    print(f"{'nodes':>6}  {'in order':>9}  {'reversed':>9}  reversed/in order")
    for n in (2_000, 4_000, 8_000):
        forward, backward = chain_file(n, False), chain_file(n, True)
        a, b = median_load(forward), median_load(backward)
        print(f"{n:>6}  {a * 1e3:7.1f} ms  {b * 1e3:7.1f} ms  {b / a:.2f}")


if __name__ == "__main__":
    main()
