"""Time the full shape pass and the module build on a ResNet-152 drawn layer by layer.

Prints medians and ratios measured side by side in one run (the machines are noisy):
- the full shape pass (topological sort included) vs a bare formula walk with a sort, goal
  ≤ 2 ms median so every edit re-checks the whole graph synchronously: cold (nothing kept,
  every inference recomputed) and after an edit (the pass walks every node again, but the
  graph keeps each node's result, its lints and the topological order from the last pass, so
  only what the edit changed is recomputed);
- the same after an edit with the pre-flight cost figures (issue 21): the profile for Adam,
  the step at batch 128 and the largest batch, goal the same ≤ 2 ms;
- building the compiled module vs torchvision's resnet152(), goal ≤ 1 s on CPU.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from app.core.compiler import compile_graph
from app.core.cost import profile
from app.core.shapes import check, clear_cache, topological_sort
from presets.drawn import drawn_resnet


def bare_walk(graph) -> None:
    """The floor: the same topological sort and one formula per conv node, nothing else."""
    ports = graph.port_table()
    order, _ = topological_sort(ports)
    h = {}
    for nid in order:
        node = graph.nodes[nid]
        srcs = ports[nid]
        size = h[srcs[0]] if srcs else node.params.get("height", 0)
        if node.type_id == "conv2d":
            p = node.params
            size = (size - p["kernel_h"] + 2 * p["padding"]) // p["stride"] + 1
        h[nid] = size


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    torch.set_num_threads(2)
    graph = drawn_resnet(152)
    edges = sum(1 for _ in graph.edges())
    report = check(graph)
    assert report.ok, report.errors
    print(
        f"graph: ResNet-152 drawn layer by layer, {len(graph)} nodes, {edges} edges, "
        f"{report.total_params:,} parameters"
    )

    def cold() -> None:
        clear_cache()
        check(graph)

    node = next(
        n for n in graph.nodes.values() if n.type_id == "conv2d" and n.params["out_channels"] == 256
    )
    flip = [node.params["bias"]]

    def edit_then_check() -> None:  # what every edit costs: one param changes, full re-check
        flip[0] = not flip[0]
        graph.set_params(node.id, {"bias": flip[0]})
        check(graph)

    def edit_check_cost() -> None:  # and the pre-flight memory figures (issue 21)
        flip[0] = not flip[0]
        graph.set_params(node.id, {"bias": flip[0]})
        report = check(graph)
        p = profile(graph, report, optimizer="adam")
        p.at(128)
        p.largest_batch(8 * 2**30)

    def cold_cost() -> None:  # nothing kept: every inference and every cost rule runs
        clear_cache()
        report = check(graph)
        p = profile(graph, report, optimizer="adam")
        p.at(128)
        p.largest_batch(8 * 2**30)

    cold_t, warm_t, cost_t, cold_cost_t, walk_t = [], [], [], [], []
    for _ in range(30):  # interleave so all see the same machine state
        cold_t += timed(cold, 5)
        cold_cost_t += timed(cold_cost, 5)
        edit_check_cost()  # the first pass after a cold one recomputes everything
        warm_t += timed(edit_then_check, 5)
        cost_t += timed(edit_check_cost, 5)
        walk_t += timed(lambda: bare_walk(graph), 5)
    mw = statistics.median(walk_t)
    once = "(once, as a file opens)"
    for name, ts, goal in (
        ("full pass, cold cache ", cold_t, once),
        ("full pass + cost, cold", cold_cost_t, once),
        ("edit + full re-check  ", warm_t, "(goal ≤ 2 ms)"),
        ("edit + re-check + cost", cost_t, "(goal ≤ 2 ms)"),
    ):
        m = statistics.median(ts)
        p95 = sorted(ts)[int(0.95 * len(ts))]
        print(
            f"{name}:  median {m * 1e3:.2f} ms   p95 {p95 * 1e3:.2f} ms   "
            f"{m / mw:.1f}× bare walk   {goal}"
        )
    print(f"bare formula walk (sort + conv formula only): median {mw * 1e3:.2f} ms")

    import torchvision

    build_t, tv_t = [], []
    for _ in range(3):
        build_t += timed(lambda: compile_graph(graph, report), 1)
        tv_t += timed(lambda: torchvision.models.resnet152(), 1)
    mb, mt = statistics.median(build_t), statistics.median(tv_t)
    print(
        f"module build:      median {mb:.3f} s (goal ≤ 1 s)   torchvision resnet152() "
        f"{mt:.3f} s   ratio {mb / mt:.2f}×"
    )


def presets_section() -> None:
    """Every preset: build the graph, load it from JSON, check it (cold); module build of the
    two largest (most nodes / most parameters)."""
    import presets
    from app.core.serialization import Project, loads, to_json

    rows = []
    for name in presets.names():
        graph = presets.get(name).build()
        text = to_json(Project(graph, name))

        def cold(graph=graph) -> None:
            clear_cache()
            check(graph)

        build = statistics.median(timed(lambda name=name: presets.get(name).build(), 5))
        load = statistics.median(timed(lambda text=text: loads(text), 5))
        chk = statistics.median(timed(cold, 5))
        rows.append((name, len(graph), build, load, chk, check(graph).total_params))
    worst = max(rows, key=lambda r: r[4])
    print(
        f"presets: {len(rows)}; slowest shape check {worst[0]} ({worst[1]} nodes): "
        f"{worst[4] * 1e3:.2f} ms cold (goal ≤ 2 ms)"
    )
    print(
        f"slowest graph build: {max(r[2] for r in rows) * 1e3:.1f} ms; slowest JSON load: "
        f"{max(r[3] for r in rows) * 1e3:.1f} ms"
    )
    import torchvision

    name = max(rows, key=lambda r: r[5])[0]
    graph = presets.get(name).build()
    report = check(graph)
    ours, theirs = [], []
    for _ in range(3):  # interleaved: weight initialisation dominates both
        ours += timed(lambda: compile_graph(graph, report), 1)
        theirs += timed(lambda: getattr(torchvision.models, name)(), 1)
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(
        f"module build of the largest preset, {name} ({report.total_params:,} parameters): "
        f"{mo:.3f} s   torchvision {mt:.3f} s   ratio {mo / mt:.2f}×"
    )


if __name__ == "__main__":
    main()
    presets_section()
