"""Structural edits: insert on an edge, expand composite blocks (all or nothing, invertible)."""

from __future__ import annotations

import pytest
import torch

import presets
from app.core.compiler import compile_graph
from app.core.edits import (
    AddStep,
    ConnectStep,
    ExpansionError,
    RemoveStep,
    apply_steps,
    expand_node,
    insert_on_edge,
)
from app.core.errors import GraphError, PortError
from app.core.graph import Edge, Graph, Learning
from app.core.serialization import Project, to_json
from app.core.shapes import check
from tests.helpers import chain, image


def test_failed_step_rolls_back_everything():
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    before = g.copy()
    steps = [
        AddStep("extra", "relu", {}, (0.0, 0.0)),
        ConnectStep(Edge("relu_1", "extra", 0)),
        ConnectStep(Edge("input_1", "conv2d_1", 0)),  # port already fed: fails
    ]
    with pytest.raises(GraphError):
        apply_steps(g, steps)
    assert g == before


def test_insert_on_edge_and_undo():
    g = presets.get("lenet5").build()
    before = g.copy()
    edge = next(e for e in g.edges() if g.node(e.src).type_id == "conv2d")
    node_id, steps = insert_on_edge(g, edge, "batchnorm2d", (10.0, 20.0))
    undo = apply_steps(g, steps)
    assert g.inputs_of(node_id) == [edge.src]
    assert g.inputs_of(edge.dst)[edge.port] == node_id
    report = check(g)
    assert report.ok and report.nodes[node_id].shape == report.nodes[edge.src].shape
    apply_steps(g, undo)
    assert g == before


def test_insert_keeps_the_port_of_a_merge():
    g = presets.get("resnet18_cifar").build()
    blocks_in = [e for e in g.edges() if g.node(e.dst).type_id == "residual"]
    edge = blocks_in[0]
    node_id, steps = insert_on_edge(g, edge, "relu", (0.0, 0.0))
    apply_steps(g, steps)
    assert g.inputs_of(edge.dst)[edge.port] == node_id and check(g).ok


@pytest.mark.parametrize("type_id", ["input", "output"])
def test_insert_refuses_blocks_without_both_ends(type_id):
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    edge = next(iter(g.edges()))
    with pytest.raises(PortError, match="cannot"):
        insert_on_edge(g, edge, type_id, (0.0, 0.0))


COMPOSITES = [
    ("conv_bn_relu", {}, (3, 16, 16)),
    ("conv_bn_relu", {"batch_norm": False, "stride": 2}, (3, 16, 16)),
    ("residual", {"channels": 8}, (8, 8, 8)),
    ("residual", {"channels": 8, "stride": 2}, (4, 8, 8)),
    ("residual", {"channels": 8, "version": "v2", "stride": 2}, (4, 8, 8)),
    ("residual", {"channels": 8, "version": "v2"}, (8, 8, 8)),
    ("residual", {"kind": "bottleneck", "channels": 4}, (16, 8, 8)),
    ("residual", {"kind": "bottleneck", "channels": 4, "stride": 2, "version": "v1"}, (8, 8, 8)),
    (
        "residual",
        {"kind": "bottleneck", "channels": 8, "groups": 4, "base_width": 8, "stride": 2},
        (16, 8, 8),
    ),
    ("residual", {"kind": "bottleneck", "channels": 4, "version": "v2"}, (8, 8, 8)),
    ("residual", {"channels": 16, "se_reduction": 4}, (8, 8, 8)),
    ("residual", {"kind": "bottleneck", "channels": 8, "se_reduction": 16}, (32, 6, 6)),
    ("squeeze_excite", {"reduction": 4}, (16, 5, 5)),
    # a squeeze width that is not a whole fraction of the channels (6 // 4 = 1)
    ("residual", {"channels": 6, "se_reduction": 4}, (6, 5, 5)),
    ("squeeze_excite", {"reduction": 4}, (6, 5, 5)),
    ("inception", {"ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 3}, (6, 9, 9)),
    ("inception", {"kernel": 3, "batch_norm": False, "pool_proj": 7}, (6, 9, 9)),
    ("fire", {"squeeze": 4, "expand1x1": 6, "expand3x3": 5}, (8, 9, 9)),
    ("nin_block", {"channels": 8, "kernel_size": 5, "stride": 2, "mid_channels": 6}, (3, 15, 15)),
    ("dense_layer", {"growth_rate": 5, "bn_size": 2}, (6, 7, 7)),
    ("inverted_residual", {"out_channels": 6}, (6, 7, 7)),
    ("inverted_residual", {"out_channels": 8, "stride": 2, "expand_ratio": 1}, (6, 7, 7)),
]


def weights_by_name(state: dict) -> dict:
    """``residual_1.downsample.0.weight`` → ``residual_1_downsample_0.weight``."""
    out = {}
    for key, value in state.items():
        path, leaf = key.rsplit(".", 1)
        out[f"{path.replace('.', '_')}.{leaf}"] = value
    return out


@pytest.mark.parametrize(("type_id", "params", "shape"), COMPOSITES)
def test_expanded_block_computes_the_same_function(type_id, params, shape):
    c, h, w = shape
    g = chain(image(c, h, w), (type_id, params), ("relu", {}))
    block_id = f"{g.registry.canonical(type_id)}_1"
    expanded = g.copy()
    new_ids, steps = expand_node(expanded, block_id)
    undo = apply_steps(expanded, steps)
    assert block_id not in expanded and all(n in expanded for n in new_ids)
    before, after = check(g), check(expanded)
    assert after.ok, after.errors
    assert after.nodes["relu_1"].shape == before.nodes["relu_1"].shape
    assert after.total_params == before.total_params
    assert after.total_macs == before.total_macs
    torch.manual_seed(0)
    composite, primitive = compile_graph(g).eval(), compile_graph(expanded).eval()
    for m in composite.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    primitive.load_state_dict(weights_by_name(composite.state_dict()))
    x = torch.randn(2, c, h, w)
    torch.testing.assert_close(primitive(x), composite(x))
    apply_steps(expanded, undo)
    assert expanded == g


def test_expand_keeps_connections_and_moves_nodes_below():
    g = presets.get("resnet18_cifar").build()
    block = next(n for n, node in g.nodes.items() if node.type_id == "residual")
    consumer = g.successors(block)[0]
    y_before = g.node(consumer).position[1]
    new_ids, steps = expand_node(g, block)
    apply_steps(g, steps)
    assert check(g).ok
    assert g.inputs_of(consumer)[0] == new_ids[-1]
    assert g.node(consumer).position[1] > y_before


def test_expand_refuses_primitives_and_unknown_input_shapes():
    g = chain(image(), ("conv2d", {}))
    with pytest.raises(ExpansionError, match="not a composite"):
        expand_node(g, "conv2d_1")
    g = Graph()
    g.add_node("residual")
    with pytest.raises(ExpansionError, match="input shape"):
        expand_node(g, "residual_1")


def test_expanded_ids_do_not_clash():
    g = chain(image(8, 8, 8), ("residual", {"channels": 8}))
    g.add_node("relu", node_id="residual_1_relu")
    new_ids, steps = expand_node(g, "residual_1")
    apply_steps(g, steps)
    assert "residual_1_relu_2" in new_ids
    assert {p.node_id for p in check(g).errors} == {"residual_1_relu"}  # the loose one only


@pytest.mark.parametrize(
    ("name", "type_id"),
    [
        ("resnet18", "residual"),
        ("se_resnet18_cifar", "residual"),
        ("preact_resnet18_cifar", "residual"),
        ("squeezenet1_1", "fire"),
        ("googlenet", "inception"),
        ("googlenet", "conv_bn_relu"),
    ],
)
def test_expanding_a_named_block_keeps_its_weights_names_and_undo_restores_it(name, type_id):
    """A block with a module path (``layer1.0``) gives its parts paths below it
    (``layer1.0.conv1``, ``layer1.0.downsample.0``): the state_dict keys do not change, so
    weights saved before (torchvision's) still load by name; a ReLU below a conv's name
    (Fire's ``squeeze_relu``) keeps no path. Undo gives back the block with its path."""
    g = presets.get(name).build()
    before_file = to_json(Project(g))
    with torch.device("meta"):
        before = set(compile_graph(g).state_dict())
    undo = []
    for nid in [n for n, node in g.nodes.items() if node.type_id == type_id]:
        _, steps = expand_node(g, nid)
        undo.append(apply_steps(g, steps))
    report = check(g)
    assert report.ok
    with torch.device("meta"):
        assert set(compile_graph(g, report).state_dict()) == before
    for steps in reversed(undo):
        apply_steps(g, steps)
    assert to_json(Project(g)) == before_file


def test_parts_of_a_named_block_are_named_below_it():
    g = presets.get("squeezenet1_1").build()
    fire = next(n for n, node in g.nodes.items() if node.type_id == "fire")
    base = g.node(fire).path
    new_ids, steps = expand_node(g, fire)
    apply_steps(g, steps)
    paths = {g.node(n).path.removeprefix(base + ".") for n in new_ids}
    assert paths == {"squeeze", "expand1x1", "expand3x3", "concat", ""}  # 3 ReLUs keep none


#: each composite's parts, as the nodes an expansion makes are named (its submodule paths
#: with ``_`` for ``.``; for a block with a module path, the paths below it)
PART_NAMES = {
    ("residual", "basic, projection"): (
        {"channels": 8, "stride": 2},
        (4, 8, 8),
        "conv1 bn1 relu1 conv2 bn2 downsample_0 downsample_1 add relu",
    ),
    ("residual", "pre-activation, SE"): (
        {"channels": 4, "version": "v2", "se_reduction": 2},
        (4, 8, 8),
        "bn1 relu1 conv1 bn2 relu2 conv2 se_avgpool se_fc1 se_relu se_fc2 se_gate se_scale add",
    ),
    ("inception", ""): (
        {"ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 3, "pool_proj": 2},
        (6, 9, 9),
        "branch1_conv branch1_bn branch1_relu branch2_0_conv branch2_0_bn branch2_0_relu "
        "branch2_1_conv branch2_1_bn branch2_1_relu branch3_0_conv branch3_0_bn branch3_0_relu "
        "branch3_1_conv branch3_1_bn branch3_1_relu branch4_0 branch4_1_conv branch4_1_bn "
        "branch4_1_relu concat",
    ),
    ("nin_block", ""): ({}, (3, 9, 9), "conv1 relu1 conv2 relu2 conv3 relu3"),
    ("dense_layer", ""): ({}, (6, 7, 7), "norm1 relu1 conv1 norm2 relu2 conv2 concat"),
    ("inverted_residual", ""): (
        {"out_channels": 6},
        (6, 7, 7),
        "conv_0_0 conv_0_1 conv_0_2 conv_1_0 conv_1_1 conv_1_2 conv_2 conv_3 add",
    ),
    ("fire", ""): (
        {},
        (6, 7, 7),
        "squeeze squeeze_relu expand1x1 expand1x1_relu expand3x3 expand3x3_relu concat",
    ),
}


@pytest.mark.parametrize("key", PART_NAMES, ids=lambda k: " ".join(k).strip())
def test_expanded_parts_are_named_after_the_modules_they_were(key):
    params, (c, h, w), names = PART_NAMES[key]
    g = chain(image(c, h, w), (key[0], params), ("relu", {}))
    block = next(n for n in g.nodes if n.startswith(key[0]))
    g.set_path(block, "stage.0")
    new_ids, steps = expand_node(g, block)
    apply_steps(g, steps)
    assert new_ids == [f"{block}_{name}" for name in names.split()]
    paths = [g.node(n).path for n in new_ids]
    # every part below the block's path, but a ReLU below a conv's name (Fire's)
    expected = [f"stage.0.{name.replace('_', '.')}" for name in names.split()]
    if key[0] == "fire":
        expected = [p if not p.endswith(".relu") else "" for p in expected]
    assert paths == expected


def test_a_frozen_block_s_parts_stay_frozen_and_undo_of_a_removal_keeps_its_learning():
    g = presets.get("resnet18").build()
    block = next(n for n, node in g.nodes.items() if node.type_id == "residual")
    g.set_learning(block, Learning(trainable=False, lr_mult=0.5))
    before = to_json(Project(g))
    new_ids, steps = expand_node(g, block)
    undo = apply_steps(g, steps)
    assert {g.node(n).learning for n in new_ids} == {Learning(False, 0.5)}
    apply_steps(g, undo)
    assert to_json(Project(g)) == before
    undo = apply_steps(g, [RemoveStep(block)])
    apply_steps(g, undo)
    assert to_json(Project(g)) == before
