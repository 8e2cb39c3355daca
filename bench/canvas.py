"""Canvas responsiveness on big graphs, offscreen: python bench/canvas.py

For the ResNet-152 preset and for a synthetic 600-node / 798-edge graph (199 residual units of
conv → ReLU → Add with a skip edge), in a 1400×860 main window fitted to the whole graph (every
node visible: the worst case for painting):

- load + layout: build the document (shape check), lay it out, create the scene, first paint;
- drag step: move one node as a mouse drag does (its edges re-routed), then repaint the viewport
  synchronously; goal p95 ≤ 16 ms;
- hit test: the block under a point (the scene's spatial index); goal ≤ 0.2 ms;
- edit → re-check → repaint: one undoable parameter edit, the shape pass, the scene update and
  the repaint, for a local edit (a conv's bias) and a cascading one (its channel count, which
  changes every shape below); goal p95 ≤ 16 ms.

Painting goes through the event loop (``processEvents``), so Qt repaints the dirty regions as
it does for a user; the graph is fitted to the window, so every block is visible and small.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

import presets
from app.core.graph import Graph
from app.core.layout import layered_layout
from app.core.serialization import Project
from app.ui.document import Document
from app.ui.main_window import MainWindow


def synthetic(units: int = 199) -> Graph:
    """600 nodes and 798 edges: input, units of conv → relu → add(relu, unit input), then
    global average pooling and the output."""
    g = Graph()
    x = g.add_node("input", {"channels": 16, "height": 8, "width": 8}).id
    for _ in range(units):
        conv = g.add_node("conv2d", {"out_channels": 16, "padding": 1}).id
        relu = g.add_node("relu").id
        add = g.add_node("add").id
        g.connect(x, conv)
        g.connect(conv, relu)
        g.connect(relu, add, 0)
        g.connect(x, add, 1)
        x = add
    pool = g.add_node("global_avgpool").id
    g.connect(x, pool)
    g.connect(pool, g.add_node("output").id)
    return g


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(window: MainWindow, name: str, graph: Graph) -> None:
    app = QApplication.instance()
    start = time.perf_counter()
    for node_id, pos in layered_layout(graph).items():
        graph.move_node(node_id, pos)
    document = Document(Project(graph, name))
    window.set_document(document)
    window.view.fit()
    window.view.viewport().repaint()
    app.processEvents()
    load = time.perf_counter() - start
    scene = window.scene
    print(f"\n{name}: {len(graph)} nodes, {len(scene.edge_items)} edges")
    print(f"  load + layout + first paint   {load * 1000:8.1f} ms")

    # drag step: a node in the middle, moved as ItemIsMovable does on mouse move, with the
    # whole graph fitted (tiny blocks) and at 100% zoom around it (how one edits)
    ids = list(graph.nodes)
    item = scene.node_items[ids[len(ids) // 2]]
    origin = item.pos()
    for zoom in ("fitted", "100%"):
        if zoom == "100%":
            window.view.resetTransform()
            window.view.centerOn(item)
            app.processEvents()
        drag = []
        for i in range(120):
            t = time.perf_counter()
            item.setPos(origin + QPointF((i % 20) * 3.0, (i % 7) * 2.0))
            app.processEvents()  # Qt repaints the dirty region, as in a real drag
            drag.append(time.perf_counter() - t)
        item.setPos(origin)
        app.processEvents()
        print(
            f"  drag step, {zoom:6s} (move+reroute+paint) median "
            f"{statistics.median(drag) * 1000:6.2f} ms   p95 {pct(drag, 0.95) * 1000:6.2f} ms"
            "   (goal p95 ≤ 16 ms)"
        )

    # hit test: the block under points spread over the graph (half of them on blocks)
    points = [scene.node_items[n].sceneBoundingRect().center() for n in ids[::7]]
    points += [p + QPointF(0, 75) for p in points]  # between rows
    t = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for p in points:
            scene.node_at(p)
    hit = (time.perf_counter() - t) / (rounds * len(points))
    print(f"  hit test (block under a point)     {hit * 1000:6.3f} ms   (goal ≤ 0.2 ms)")

    # edit → re-check → repaint, at 100% zoom around the edited block. Local: a conv's bias or
    # a residual block's SE (no shape changes downstream); cascading: its channel count, which
    # changes every shape below it.
    conv = next(n for n in ids[len(ids) // 2 :] if graph.node(n).type_id in ("conv2d", "residual"))
    residual = graph.node(conv).type_id == "residual"
    local = ("se_reduction", [0, 16]) if residual else ("bias", [True, False])
    width = "channels" if residual else "out_channels"
    channels = graph.node(conv).params[width]
    for what, key, values in (
        (f"local edit ({local[0]})", *local),
        (f"cascading edit ({width})", width, [channels, channels * 2]),
    ):
        edit = []
        for i in range(40):
            t = time.perf_counter()
            document.set_params(conv, {key: values[(i + 1) % 2]})
            app.processEvents()
            edit.append(time.perf_counter() - t)
        print(
            f"  {what + ' → re-check → repaint':41s} median "
            f"{statistics.median(edit) * 1000:6.2f} ms   p95 {pct(edit, 0.95) * 1000:6.2f} ms"
            "   (goal p95 ≤ 16 ms)"
        )
    document.undo_stack.setClean()


def main() -> None:
    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    measure(window, "ResNet-152 preset", presets.get("resnet152").build())
    measure(window, "synthetic residual chain", synthetic())
    window.document.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    main()
