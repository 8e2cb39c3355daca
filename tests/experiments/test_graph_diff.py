"""The graph diff lists exactly the edits made."""

from __future__ import annotations

from app.core.edits import apply_steps, insert_on_edge
from app.core.graph import Edge, Learning
from app.core.graph_diff import diff_graphs
from tests.helpers import chain, image


def _net():
    return chain(
        image(1, 28, 28),
        ("conv2d", {"out_channels": 8}),
        ("relu", {}),
        ("flatten", {}),
        ("dropout", {"p": 0.3}),
        ("linear", {"out_features": 10}),
    )


def test_a_copy_has_no_differences_and_moving_is_not_a_change():
    a = _net()
    b = a.copy()
    b.move_node("conv2d_1", (500.0, 20.0))
    diff = diff_graphs(a, b)
    assert diff.empty
    assert diff.lines() == []
    assert diff.summary() == "same graph"


def test_the_diff_lists_exactly_the_edits_made():
    a = _net()
    b = a.copy()
    b.set_params("conv2d_1", {"out_channels": 16, "kernel_h": 5})
    b.set_learning("linear_1", Learning(False))
    # remove the dropout: flatten feeds the linear layer directly
    b.remove_node("dropout_1")
    b.connect("flatten_1", "linear_1")
    # add a BatchNorm between conv and ReLU
    node_id, steps = insert_on_edge(b, Edge("conv2d_1", "relu_1"), "batchnorm2d", (0, 0))
    apply_steps(b, steps)
    diff = diff_graphs(a, b)
    assert diff.added == {node_id: "batchnorm2d"}
    assert diff.removed == {"dropout_1": "dropout"}
    assert set(diff.changed) == {"conv2d_1", "linear_1"}
    conv = {c.what: (c.old, c.new) for c in diff.changed["conv2d_1"]}
    assert conv == {"out_channels": (8, 16), "kernel_h": (3, 5)}
    assert [(c.what, c.old, c.new) for c in diff.changed["linear_1"]] == [
        ("trainable", True, False)
    ]
    assert set(diff.edges_added) == {
        Edge("conv2d_1", node_id),
        Edge(node_id, "relu_1"),
        Edge("flatten_1", "linear_1"),
    }
    assert set(diff.edges_removed) == {
        Edge("conv2d_1", "relu_1"),
        Edge("flatten_1", "dropout_1"),
        Edge("dropout_1", "linear_1"),
    }
    assert diff.summary() == "1 block added, 1 block removed, 2 blocks changed"
    lines = diff.lines()
    assert f"+ {node_id} (batchnorm2d)" in lines
    assert "- dropout_1 (dropout)" in lines
    assert "~ conv2d_1: out_channels 8 → 16, kernel_h 3 → 5" in lines
    assert diff.to_dict()["removed"] == {"dropout_1": "dropout"}
    # and back: the reverse diff swaps added and removed
    back = diff_graphs(b, a)
    assert back.added == {"dropout_1": "dropout"} and back.removed == {node_id: "batchnorm2d"}


def test_the_overlay_puts_removed_blocks_back_and_marks_every_difference():
    from app.core.graph_diff import overlay

    a = _net()
    b = a.copy()
    b.set_params("conv2d_1", {"out_channels": 16})
    b.remove_node("dropout_1")
    b.connect("flatten_1", "linear_1")
    merged, marks = overlay(a, b)
    assert set(merged.nodes) == set(a.nodes)
    assert marks == {
        "dropout_1": ("removed", "removed in this run's graph"),
        "conv2d_1": ("changed", "out_channels 8 → 16"),
    }
    # the removed block hangs off its old input; its old output port is taken by b's edge
    assert Edge("flatten_1", "dropout_1") in set(merged.edges())
    assert Edge("flatten_1", "linear_1") in set(merged.edges())
