"""Structural edits made of several graph mutations, applied all or nothing.

An edit is a list of steps (add/remove a node, connect/disconnect an edge, move a node).
``apply_steps`` runs them and returns the inverse steps, so an undo command only has to apply
those. Two edits are built here: inserting a block on an edge, and expanding a composite block
into the primitive blocks it is made of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from app.core.errors import GraphError, PortError
from app.core.graph import Edge, Graph, Learning, Position
from app.core.names import module_name_clashes
from app.core.shapes import ShapeReport, check
from blocks.expansion import INPUT, can_expand, expand

LAYER_GAP = 90.0
COLUMN_GAP = 220.0


class AddStep(NamedTuple):
    node_id: str
    type_id: str
    params: Mapping[str, Any]
    position: Position
    label: str = ""
    index: int | None = None
    path: str = ""
    learning: Learning = Learning()


class RemoveStep(NamedTuple):
    node_id: str


class ConnectStep(NamedTuple):
    edge: Edge


class DisconnectStep(NamedTuple):
    edge: Edge


class MoveStep(NamedTuple):
    node_id: str
    position: Position


Step = AddStep | RemoveStep | ConnectStep | DisconnectStep | MoveStep


def _apply_one(graph: Graph, step: Step) -> list[Step]:
    """Apply one step; return the steps that undo it (in the order to apply them)."""
    if isinstance(step, AddStep):
        graph.add_node(
            step.type_id,
            step.params,
            node_id=step.node_id,
            position=step.position,
            label=step.label,
            index=step.index,
            path=step.path,
            learning=step.learning,
        )
        return [RemoveStep(step.node_id)]
    if isinstance(step, RemoveStep):
        node = graph.node(step.node_id)
        index = list(graph.nodes).index(step.node_id)
        removed = graph.remove_node(step.node_id)
        params = dict(node.params)
        restore = AddStep(
            node.id,
            node.type_id,
            params,
            node.position,
            node.label,
            index,
            node.path,
            node.learning,
        )
        return [restore, *(ConnectStep(e) for e in removed)]
    if isinstance(step, ConnectStep):
        e = step.edge
        return [DisconnectStep(graph.connect(e.src, e.dst, e.port))]
    if isinstance(step, DisconnectStep):
        graph.disconnect(step.edge)
        return [ConnectStep(step.edge)]
    old = graph.node(step.node_id).position
    graph.move_node(step.node_id, step.position)
    return [MoveStep(step.node_id, old)]


def apply_steps(graph: Graph, steps: Sequence[Step]) -> list[Step]:
    """Apply ``steps`` in order and return their inverse. If one fails, the steps already
    applied are undone and the error propagates: the graph is as before."""
    undo: list[list[Step]] = []
    try:
        for step in steps:
            undo.append(_apply_one(graph, step))
    except Exception:
        for inverse in reversed(undo):
            for s in inverse:
                _apply_one(graph, s)
        raise
    return [s for inverse in reversed(undo) for s in inverse]


def insert_on_edge(
    graph: Graph,
    edge: Edge,
    type_id: str,
    position: Position,
    params: Mapping[str, Any] | None = None,
) -> tuple[str, list[Step]]:
    """Steps that put a new ``type_id`` block between ``edge``'s ends (its first input port
    fed by the edge's source, its output feeding the edge's old target port)."""
    block = graph.registry.get(type_id)
    values = block.validate(params or {})
    if block.num_inputs(values) < 1:
        raise PortError(f"{block.title} has no input port, so it cannot sit on a connection")
    if block.type_id == "output":
        raise PortError("an Output block has no outgoing connection, so it cannot be inserted")
    if edge not in set(graph.edges()):
        raise GraphError(f"no edge {edge.src} → {edge.dst}[{edge.port}]")
    node_id = graph.new_id(block.type_id)
    return node_id, [
        DisconnectStep(edge),
        AddStep(node_id, block.type_id, values, position),
        ConnectStep(Edge(edge.src, node_id, 0)),
        ConnectStep(Edge(node_id, edge.dst, edge.port)),
    ]


class ExpansionError(GraphError):
    """The block cannot be expanded (not composite, or its input shape is unknown)."""


def expand_node(
    graph: Graph, node_id: str, report: ShapeReport | None = None
) -> tuple[list[str], list[Step]]:
    """Steps that replace composite ``node_id`` with its primitive parts (ids
    ``<node_id>_<part>``), keeping its connections; nodes below it move down to make room.
    A block with a module path (``layer1.0``) gives its parts paths below it
    (``layer1.0.conv1``, ``layer1.0.downsample.0``), so the weights keep their names."""
    node = graph.node(node_id)
    block = graph.block(node_id)
    if not can_expand(node.type_id):
        raise ExpansionError(f"{node_id} ({block.title}) is not a composite block")
    src = graph.inputs_of(node_id)[0]
    info = (report or check(graph)).nodes.get(src) if src else None
    if src is None or info is None or info.shape is None:
        raise ExpansionError(
            f"the input shape of {node_id} is unknown: connect its input (without errors) first"
        )
    parts = expand(node.type_id, node.params, info.shape)
    taken = set(graph.nodes) - {node_id}
    ids: dict[str, str] = {INPUT: src}
    for part in parts:
        new = base = f"{node_id}_{part.name}".rstrip("_")
        n = 2
        while new in taken:
            new, n = f"{base}_{n}", n + 1
        taken.add(new)
        ids[part.name] = new
    depth: dict[str, int] = {INPUT: 0}
    for part in parts:
        depth[part.name] = 1 + max(depth[i] for i in part.inputs)
    paths = _part_paths(graph, node_id, parts, ids)
    columns: dict[int, int] = {}
    x0, y0 = node.position
    steps: list[Step] = [RemoveStep(node_id)]
    order = list(graph.nodes).index(node_id)
    for i, part in enumerate(parts):
        d = depth[part.name]
        col = columns.get(d, 0)
        columns[d] = col + 1
        position = (x0 + col * COLUMN_GAP, y0 + (d - 1) * LAYER_GAP)
        new = ids[part.name]
        path = paths.get(new, "")
        steps.append(  # the parts train as the block did
            AddStep(new, part.type_id, part.params, position, "", order + i, path, node.learning)
        )
    for part in parts:
        for port, name in enumerate(part.inputs):
            steps.append(ConnectStep(Edge(ids[name], ids[part.name], port)))
    last = ids[parts[-1].name]
    steps += [ConnectStep(Edge(last, e.dst, e.port)) for e in graph.out_edges(node_id)]
    shift = (max(depth.values()) - 1) * LAYER_GAP
    below = graph.downstream(node_id)
    steps += [
        MoveStep(n, (graph.node(n).position[0], graph.node(n).position[1] + shift))
        for n in graph.nodes
        if n in below and graph.node(n).position[1] > y0
    ]
    return [ids[p.name] for p in parts], steps


def _part_paths(graph: Graph, node_id: str, parts: list, ids: dict[str, str]) -> dict[str, str]:
    """Part id → module path below the block's own (none when the block has none). A part
    whose path would lie below another part's (Fire's ReLU ``squeeze_relu`` below the conv
    ``squeeze``) keeps none: only layers without weights are left so."""
    base = graph.node(node_id).path
    if not base:
        return {}
    paths = {ids[p.name]: f"{base}.{p.name.replace('_', '.')}" for p in parts}
    taken = set(paths.values())
    for part, path in list(paths.items()):
        pieces = path.split(".")
        if any(".".join(pieces[:k]) in taken for k in range(1, len(pieces))):
            del paths[part]
    names = {n: m for n, m in graph.module_names().items() if n != node_id}
    for part, _ in module_name_clashes(names | paths):  # the rest of the graph's names
        paths.pop(part, None)
    return paths
