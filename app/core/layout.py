"""Layered auto-layout, top to bottom: one row per topological generation, nodes in a row
ordered by the mean position of their inputs (fewer crossings), rows centred."""

from __future__ import annotations

from app.core.graph import Graph, Position, stage_of

ROW_GAP = 100.0
COL_GAP = 230.0
#: extra space where a stage (the first part of the module paths) begins or ends, so the
#: stages' titled frames neither touch nor hide a block
STAGE_GAP = 60.0


def layered_layout(graph: Graph) -> dict[str, Position]:
    """Positions for every node (top-left corners)."""
    positions: dict[str, Position] = {}
    x_of: dict[str, float] = {}
    y = -ROW_GAP
    before: set[str] | None = None
    for layer in graph.layers():
        stages = {stage_of(graph.nodes[n].path) for n in layer}
        y += ROW_GAP
        if before is not None and stages != before and stages | before != {""}:
            y += STAGE_GAP
        before = stages

        def key(node_id: str, layer: list[str] = layer) -> tuple[float, int]:
            xs = [x_of[s] for s in graph.inputs_of(node_id) if s is not None and s in x_of]
            return (sum(xs) / len(xs) if xs else 0.0, layer.index(node_id))

        ordered = sorted(layer, key=key)
        width = (len(ordered) - 1) * COL_GAP
        for col, node_id in enumerate(ordered):
            x = col * COL_GAP - width / 2
            x_of[node_id] = x
            positions[node_id] = (x, y)
    return positions


def unplaced(graph: Graph) -> bool:
    """True for a graph that came without a layout: two or more nodes, all at one position (a
    file written by a script, or a graph built in code)."""
    positions = {node.position for node in graph.nodes.values()}
    return len(graph) > 1 and len(positions) == 1


def free_position(
    graph: Graph, wanted: Position, size: tuple[float, float] = (190.0, 62.0)
) -> Position:
    """``wanted``, or the first place below it (a row at a time) where a node of ``size``
    (top-left corner) overlaps none of the graph's nodes."""
    x, y = wanted
    w, h = size
    taken = [n.position for n in graph.nodes.values()]
    while any(abs(px - x) < w and abs(py - y) < h + 10 for px, py in taken):
        y += ROW_GAP
    return (x, y)
