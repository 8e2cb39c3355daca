"""Graph mutations: typed errors before any change, events after every change."""

from __future__ import annotations

import pytest

from app.core.errors import (
    CycleError,
    DuplicateNodeError,
    EdgeNotFoundError,
    InvalidNodeIdError,
    InvalidParamError,
    NodeNotFoundError,
    PortError,
    PortOccupiedError,
    UnknownBlockError,
)
from app.core.graph import Edge, Graph
from app.core.serialization import Project, to_json
from tests.helpers import chain, image


def snapshot(g: Graph) -> str:
    return to_json(Project(g))


def test_add_connect_and_query():
    g = chain(image(), ("conv2d", {"out_channels": 8}), ("relu", {}))
    assert list(g.nodes) == ["input_1", "conv2d_1", "relu_1"]
    assert g.topological_order() == ["input_1", "conv2d_1", "relu_1"]
    assert g.upstream("relu_1") == {"input_1", "conv2d_1"}
    assert g.downstream("input_1") == {"conv2d_1", "relu_1"}
    assert g.inputs_of("relu_1") == ["conv2d_1"]
    assert g.node("conv2d_1").params["kernel_h"] == 3  # defaults filled in
    assert g.layers() == [["input_1"], ["conv2d_1"], ["relu_1"]]


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda g: g.add_node("nope"), UnknownBlockError),
        (lambda g: g.add_node("conv2d", {"kernel_h": 0}), InvalidParamError),
        (lambda g: g.add_node("conv2d", {"colour": 1}), InvalidParamError),
        (lambda g: g.add_node("dropout", {"p": 1.0}), InvalidParamError),
        (lambda g: g.add_node("relu", node_id="conv2d_1"), DuplicateNodeError),
        (lambda g: g.add_node("relu", node_id="not valid"), DuplicateNodeError),
        (lambda g: g.add_node("relu", node_id="class"), DuplicateNodeError),
        (lambda g: g.connect("relu_1", "input_1"), PortError),
        (lambda g: g.connect("relu_1", "conv2d_1"), PortOccupiedError),
        (lambda g: g.connect("add_1", "add_1", 0), CycleError),
        (lambda g: g.connect("input_1", "add_1", 2), PortError),
        (lambda g: g.connect("ghost", "relu_1"), NodeNotFoundError),
        (lambda g: g.disconnect(Edge("input_1", "relu_1", 0)), EdgeNotFoundError),
        (lambda g: g.set_params("conv2d_1", {"stride": -1}), InvalidParamError),
        (lambda g: g.set_params("add_1", {"inputs": 2}), InvalidParamError),
        (lambda g: g.remove_node("ghost"), NodeNotFoundError),
        (lambda g: g.rename_node("relu_1", "input_1"), DuplicateNodeError),
    ],
)
def test_errors_leave_graph_unchanged(action, error):
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    add = g.add_node("add", {"inputs": 3})
    g.connect("input_1", add.id, 2)
    before, version = snapshot(g), g.version
    with pytest.raises(error):
        action(g)
    assert snapshot(g) == before
    assert g.version == version


def test_cycle_through_longer_path_is_refused():
    g = chain(image(), ("add", {}), ("conv2d", {}), ("relu", {}))
    with pytest.raises(CycleError, match="relu_1 → add_1 would create a cycle"):
        g.connect("relu_1", "add_1", 1)


def test_events_for_every_mutation():
    g = Graph()
    events = []
    g.subscribe(events.append)
    a = g.add_node("input")
    b = g.add_node("conv2d")
    e = g.connect(a.id, b.id)
    g.set_params(b.id, {"out_channels": 32})
    g.move_node(b.id, (10, 20))
    g.set_label(b.id, "stem")
    g.rename_node(b.id, "stem")
    g.disconnect(Edge(a.id, "stem", 0))
    g.remove_node("stem")
    kinds = [ev.kind for ev in events]
    assert kinds == [
        "node_added",
        "node_added",
        "edge_added",
        "params_changed",
        "node_moved",
        "label_changed",
        "node_renamed",
        "edge_removed",
        "node_removed",
    ]
    assert events[2].edge == e
    assert events[3].old == {"out_channels": 16} and events[3].new == {"out_channels": 32}
    assert events[4].new == (10.0, 20.0)


def test_remove_node_returns_edges_for_undo():
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    removed = g.remove_node("conv2d_1")
    assert removed == [Edge("input_1", "conv2d_1", 0), Edge("conv2d_1", "relu_1", 0)]
    assert list(g.edges()) == []


def test_merge_ports_follow_inputs_param():
    g = Graph()
    add = g.add_node("add", {"inputs": 3})
    assert g.inputs_of(add.id) == [None, None, None]
    g.set_params(add.id, {"inputs": 2})
    assert g.inputs_of(add.id) == [None, None]
    src = g.add_node("input")
    g.connect(src.id, add.id)
    assert g.connect(src.id, add.id).port == 1  # same source on two ports (x + x)
    with pytest.raises(PortOccupiedError):
        g.connect(src.id, add.id)


def test_rename_keeps_edges_and_copy_is_equal():
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    g.rename_node("conv2d_1", "stem")
    assert g.inputs_of("relu_1") == ["stem"]
    assert g.topological_order() == ["input_1", "stem", "relu_1"]
    clone = g.copy()
    assert clone == g and clone is not g
    clone.set_params("stem", {"out_channels": 1})
    assert clone != g


def test_add_node_at_an_index_restores_the_order():
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    g.remove_node("conv2d_1")
    g.add_node("conv2d", node_id="conv2d_1", index=1)
    assert list(g.nodes) == ["input_1", "conv2d_1", "relu_1"]
    assert g.inputs_of("conv2d_1") == [None]  # ports come back empty, edges are separate


def test_layered_layout_puts_each_generation_on_its_own_row():
    from app.core.layout import ROW_GAP, layered_layout
    from tests.core.test_compiler import hand_built_resnet18_cifar

    g = hand_built_resnet18_cifar()
    pos = layered_layout(g)
    assert set(pos) == set(g.nodes)
    for edge in g.edges():
        assert pos[edge.dst][1] > pos[edge.src][1]  # edges point down
    assert pos["input_1"] == (0.0, 0.0)
    rows = {y for _, y in pos.values()}
    assert len(rows) == len(g.layers()) and all(y % ROW_GAP == 0 for y in rows)


def test_queries_match_networkx():
    """The graph's own topology queries agree with networkx on a branchy graph."""
    import networkx as nx

    from tests.core.test_compiler import hand_built_resnet18_cifar

    g = hand_built_resnet18_cifar()
    ref = g.nx_graph
    order = g.topological_order()
    position = {n: i for i, n in enumerate(order)}
    assert all(position[e.src] < position[e.dst] for e in g.edges())
    assert [sorted(x) for x in nx.topological_generations(ref)] == g.layers()
    for node in ("input_1", "add_3", "relu_9", "linear_1"):
        assert g.upstream(node) == nx.ancestors(ref, node)
        assert g.downstream(node) == nx.descendants(ref, node)
        assert sorted(g.successors(node)) == sorted(set(ref.successors(node)))
    assert sorted(ref.edges(keys=True)) == sorted((e.src, e.dst, e.port) for e in g.edges())


def test_module_paths_are_checked_copied_and_compared():
    g = chain(image(), ("conv2d", {}))
    g.set_path("conv2d_1", "features.0")
    assert g.module_names() == {"input_1": "input_1", "conv2d_1": "features.0"}
    other = g.copy()
    assert other == g and other.node("conv2d_1").path == "features.0"
    other.set_path("conv2d_1", "")
    assert other != g and other.module_names()["conv2d_1"] == "conv2d_1"
    for bad in ("features..0", "features.forward", "_private", "for.a", "a._b", "a.b\n"):
        with pytest.raises(InvalidNodeIdError, match="module path"):
            g.set_path("conv2d_1", bad)
        with pytest.raises(InvalidNodeIdError, match="module path"):
            g.add_node("relu", path=bad)
    assert g.node("conv2d_1").path == "features.0"  # a refused path changes nothing
    assert len(g) == 2
