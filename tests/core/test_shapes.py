"""The shape pass: every error the issue names, the course's lints, and per-node statistics."""

from __future__ import annotations

import pytest
import torch

from app.core.compiler import compile_graph
from app.core.graph import Graph
from app.core.shapes import check
from tests.helpers import chain, image


def codes(report, severity="error"):
    return [p.code for p in report.problems if p.severity == severity]


def only_error(report, code):
    errors = report.errors
    assert [p.code for p in errors] == [code], [p.message for p in errors]
    return errors[0]


def test_kernel_larger_than_padded_input():
    g = chain(image(3, 3, 3), ("conv2d", {"kernel_h": 5, "kernel_w": 5}))
    err = only_error(check(g), "shape")
    assert err.node_id == "conv2d_1"
    assert err.message.startswith("conv2d_1 (Conv2d): H: kernel 5 > padded input 3")
    assert "use padding ≥ 1 or a kernel ≤ 3" in err.message


def test_output_size_not_positive_in_pooling():
    g = chain(
        image(3, 4, 4),
        ("maxpool2d", {"kernel_size": 3, "stride": 2}),
        ("maxpool2d", {"kernel_size": 3, "stride": 2}),
    )
    err = only_error(check(g), "shape")
    assert err.node_id == "maxpool2d_2" and "≤ 0" in err.message


def test_channel_mismatch_at_add():
    g = chain(image(), ("conv2d", {"out_channels": 64}))
    g.add_node("conv2d", {"out_channels": 128}, node_id="branch")
    g.connect("input_1", "branch")
    g.add_node("add")
    g.connect("conv2d_1", "add_1")
    g.connect("branch", "add_1")
    err = only_error(check(g), "shape")
    assert err.node_id == "add_1"
    assert "channel mismatch: input 0 has 64, input 1 has 128" in err.message
    assert "1×1 convolution" in err.message


def test_spatial_mismatch_at_concat():
    g = chain(image(), ("conv2d", {"out_channels": 8, "padding": 1}))
    g.add_node("conv2d", {"out_channels": 8, "kernel_h": 5, "kernel_w": 5}, node_id="b5")
    g.connect("input_1", "b5")
    g.add_node("concat")
    g.connect("conv2d_1", "concat_1")
    g.connect("b5", "concat_1")
    err = only_error(check(g), "shape")
    assert "spatial mismatch: input 0 is 8×32×32, input 1 is 8×28×28" in err.message
    g.set_params("b5", {"padding": 2})
    report = check(g)
    assert report.ok and report.nodes["concat_1"].shape == (16, 32, 32)


def test_4d_into_linear_without_flatten():
    g = chain(image(16, 5, 5), ("linear", {"out_features": 10}))
    err = only_error(check(g), "shape")
    assert "Linear needs a flat vector, got 16×5×5: insert Flatten (→ 400 features)" in err.message


def test_unconnected_input_port_and_no_cascade():
    g = chain(image(), ("conv2d", {}))
    g.add_node("add")
    g.connect("conv2d_1", "add_1")
    g.add_node("relu")
    g.connect("add_1", "relu_1")
    report = check(g)
    err = only_error(report, "unconnected")
    assert err.node_id == "add_1" and "input port 1" in err.message
    assert report.nodes["relu_1"].shape is None  # no second error downstream


def test_unreachable_from_input():
    g = chain(image(), ("relu", {}))
    g.add_node("conv2d", node_id="orphan")
    g.add_node("add")
    g.connect("relu_1", "add_1")
    g.connect("orphan", "add_1")
    report = check(g)
    assert "unreachable" in codes(report)
    assert any(p.node_id == "orphan" and "not reachable" in p.message for p in report.errors)


def test_cycle_is_reported():
    g = chain(image(), ("add", {}), ("tanh", {}))
    # only a corrupt graph can hold a cycle: the API and the loader refuse them
    g.port_table()["add_1"][1] = "tanh_1"
    g._succ["tanh_1"]["add_1"] = 1
    report = check(g)
    assert codes(report) == ["cycle"]
    (error,) = report.errors
    assert (error.message, error.node_id) == (
        "the graph has a cycle: add_1 → tanh_1 → add_1",
        "add_1",
    )
    assert report.order == () and report.nodes == {}  # nothing else is computed


def test_more_than_one_output():
    g = chain(image(), ("relu", {}))
    g.add_node("tanh")
    g.connect("input_1", "tanh_1")
    err = only_error(check(g), "many_outputs")
    assert "more than one output (relu_1, tanh_1)" in err.message
    out = g.add_node("output")
    g.connect("relu_1", out.id)
    err = only_error(check(g), "many_outputs")
    assert err.node_id == "tanh_1" and "never used" in err.message
    g.add_node("output")
    g.connect("tanh_1", "output_2")
    assert codes(check(g)) == ["many_outputs"]


def test_missing_and_extra_input_nodes():
    g = Graph()
    g.add_node("relu")
    assert "no_input" in codes(check(g))
    g = chain(image())
    g.add_node("input")
    assert codes(check(g)) == ["many_inputs"]


def test_output_class_count():
    g = chain(
        image(1, 28, 28),
        ("flatten", {}),
        ("linear", {"out_features": 12}),
        ("output", {"classes": 10}),
    )
    err = only_error(check(g), "shape")
    assert "set the last Linear layer's out_features to 10" in err.message


# --------------------------------------------------------------------------- lints
def warning_codes(g):
    return codes(check(g), "warning")


def test_lint_pixels_dropped_when_formula_is_not_integer():
    g = chain(image(3, 32, 32), ("conv2d", {"kernel_h": 4, "kernel_w": 4, "stride": 3}))
    report = check(g)
    (w,) = report.warnings
    assert w.code == "pixels_dropped"
    assert "(32 − 4 + 2·0) / 3 = 9.33333" in w.message and "along H and W" in w.message
    # padding covers the remainder: only padding is skipped, no warning
    g2 = chain(image(3, 32, 32), ("conv2d", {"stride": 2, "padding": 1}))
    assert warning_codes(g2) == []
    # ceil_mode never drops
    g3 = chain(image(3, 32, 32), ("maxpool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}))
    assert warning_codes(g3) == []


def test_lint_bias_before_batchnorm():
    g = chain(image(), ("conv2d", {"bias": True}), ("batchnorm2d", {}))
    assert warning_codes(g) == ["bias_before_bn"]
    g.set_params("conv2d_1", {"bias": False})
    assert warning_codes(g) == []


def test_lint_dropout_after_batchnorm():
    g = chain(image(), ("conv2d", {"bias": False}), ("batchnorm2d", {}), ("dropout", {}))
    assert warning_codes(g) == ["dropout_after_bn"]


def test_lint_linear_layers_hold_most_parameters():
    import presets

    report = check(presets.get("lenet5").build())
    (w,) = report.warnings
    assert w.code == "linear_heavy" and w.node_id == "linear_1"
    assert "96% of the 61,706 parameters" in w.message


def test_lint_softmax_at_output():
    g = chain(image(1, 4, 4), ("flatten", {}), ("linear", {}), ("softmax", {}))
    assert warning_codes(g) == ["softmax_output"]


# --------------------------------------------------------------------------- stats
def test_lenet_statistics():
    import presets

    report = check(presets.get("lenet5").build())
    assert report.ok
    info = report.nodes["conv2d_1"]
    assert info.shape == (6, 28, 28) and info.params == 156 and info.macs == 117_600
    assert str(info.formulas[0]) == "H_out = floor((28 − 5 + 2·2) / 1) + 1 = 28"
    assert info.memory == 4 * 6 * 28 * 28
    assert report.nodes["avgpool2d_1"].receptive_field == 6
    assert report.nodes["conv2d_2"].receptive_field == 14
    assert report.nodes["avgpool2d_2"].receptive_field == 16
    assert report.nodes["flatten_1"].receptive_field is None
    assert report.total_params == 61_706
    assert report.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert report.depth == 5
    assert report.output_shape == (10,)


def test_depth_counts_longest_path_only():
    """A projection shortcut beside two convs adds no depth (the course's count)."""
    g = chain(
        image(), ("conv2d", {"stride": 2, "padding": 1}), ("relu", {}), ("conv2d", {"padding": 1})
    )
    g.add_node("conv2d", {"kernel_h": 1, "kernel_w": 1, "stride": 2}, node_id="proj")
    g.connect("input_1", "proj")
    add = g.add_node("add")
    g.connect("conv2d_2", add.id)
    g.connect("proj", add.id)
    report = check(g)
    assert report.ok, report.problems
    assert report.depth == 2


@pytest.mark.parametrize(
    ("params", "layers"),
    [({"kind": "basic"}, 2), ({"kind": "bottleneck", "channels": 16}, 3)],
)
def test_composite_layer_counts(params, layers):
    g = chain(image(64, 8, 8), ("residual", params))
    assert check(g).depth == layers


def test_add_broadcasts_as_torch_does_and_says_so():
    """C×1×1 + C×H×W (a per-channel bias or gate) runs in torch, so the pass accepts it, with
    a warning: a residual sum normally has equal shapes."""
    g = chain(image(3, 6, 6), ("conv2d", {"out_channels": 8, "padding": 1}))
    g.add_node("adaptive_avgpool2d", node_id="pooled")
    g.connect("conv2d_1", "pooled")
    g.add_node("add")
    g.connect("conv2d_1", "add_1")
    g.connect("pooled", "add_1")
    g.add_node("output", {"classes": 0})
    g.connect("add_1", "output_1")
    report = check(g)
    assert report.ok and report.nodes["add_1"].shape == (8, 6, 6)
    (warning,) = [p for p in report.warnings if p.code == "add_broadcast"]
    assert warning.node_id == "add_1"
    assert "input 1 (8×1×1) is expanded to 8×6×6" in warning.message
    x = torch.randn(2, 3, 6, 6)
    assert compile_graph(g, report)(x).shape == (2, 8, 6, 6)


def test_inferences_are_remembered_per_registry_not_per_type_id():
    """Two registries may give one type id different blocks (a plugin, a test's stand-in):
    each graph is checked with its own registry's block."""
    from blocks import REGISTRY, Inference
    from blocks.base import Registry

    class HalfFlatten(type(REGISTRY.get("flatten"))):  # type: ignore[misc]
        def infer(self, params, inputs):
            return Inference((inputs[0][0],))

    other = Registry()
    for block in REGISTRY:
        other.add(HalfFlatten() if block.type_id == "flatten" else block)
    steps = (image(4, 3, 3), ("flatten", {}))
    assert check(chain(*steps)).nodes["flatten_1"].shape == (36,)
    assert check(chain(*steps, graph=Graph(other))).nodes["flatten_1"].shape == (4,)
    assert check(chain(*steps)).nodes["flatten_1"].shape == (36,)


def test_the_lints_and_tools_read_what_a_block_declares():
    """The lints follow the blocks' own attributes (normalizes_batch, drops_out,
    outputs_probabilities), not lists of type ids."""
    from blocks import REGISTRY

    assert {b.type_id for b in REGISTRY if b.normalizes_batch} == {"batchnorm1d", "batchnorm2d"}
    g = chain(
        image(3, 8, 8),
        ("conv2d", {"out_channels": 4, "bias": True}),
        ("batchnorm2d", {}),
        ("dropout", {}),
        ("flatten", {}),
        ("linear", {"out_features": 10}),
        ("softmax", {}),
    )
    codes = {p.code for p in check(g).warnings}
    assert {"bias_before_bn", "dropout_after_bn", "softmax_output"} <= codes


def test_dropped_pixels_are_counted_past_the_padding():
    """(12 − 3 + 2·1) / 4 = 2.75: the last window ends 3 pixels short, 1 of them padding."""
    g = chain(image(3, 12, 12), ("conv2d", {"out_channels": 4, "padding": 1, "stride": 4}))
    (warning,) = [p for p in check(g).warnings if p.code == "pixels_dropped"]
    assert warning.node_id == "conv2d_1"
    assert warning.message == (
        "conv2d_1: (12 − 3 + 2·1) / 4 = 2.75 is not an integer, so floor() silently drops the "
        "last 2 input row(s)/column(s) along H and W: change padding or the input size so the "
        "division is exact"
    )


def test_a_second_output_is_named_with_the_first():
    g = chain(image(1, 4, 4), ("flatten", {}), ("output", {"classes": 0}))
    g.add_node("output", {"classes": 0})
    g.connect("flatten_1", "output_2")
    (error,) = [p for p in check(g).errors if p.code == "many_outputs"]
    assert (error.node_id, error.message) == (
        "output_2",
        "output_2: more than one Output node (first is output_1)",
    )


def test_every_broadcast_input_of_an_add_is_named():
    g = chain(image(3, 6, 6), ("conv2d", {"out_channels": 8, "padding": 1}))
    for name in ("pooled_a", "pooled_b"):
        g.add_node("adaptive_avgpool2d", node_id=name)
        g.connect("conv2d_1", name)
    g.add_node("add", {"inputs": 3})
    for port, src in enumerate(("conv2d_1", "pooled_a", "pooled_b")):
        g.connect(src, "add_1", port)
    g.add_node("output", {"classes": 0})
    g.connect("add_1", "output_1")
    (warning,) = [p for p in check(g).warnings if p.code == "add_broadcast"]
    assert warning.message == (
        "add_1: input 1 (8×1×1), 2 (8×1×1) is expanded to 8×6×6 by broadcasting: fine for a "
        "bias or gate, but a residual shortcut normally matches the branch (a 1×1 convolution "
        "with the branch's stride)"
    )


def test_dangling_branches_without_an_output_are_named():
    g = chain(image(1, 4, 4), ("relu", {}))
    for name in ("left", "middle", "right"):
        g.add_node("flatten", node_id=name)
        g.connect("relu_1", name)
    report = check(g)
    (error,) = report.errors
    assert (error.code, error.node_id) == ("many_outputs", "right")
    assert error.message == (
        "more than one output (left, middle, right): merge the branches or add an Output node "
        "after the one you mean"
    )
    assert report.output_id == "right"


def test_the_lints_name_the_node_and_the_fix():
    g = chain(
        image(3, 8, 8),
        ("conv2d", {"out_channels": 4, "bias": True, "padding": 1}),
        ("batchnorm2d", {}),
        ("dropout", {}),
        ("relu", {}),
        ("dropout", {}),
    )
    warnings = {(p.code, p.node_id): p.message for p in check(g).warnings}
    assert warnings[("bias_before_bn", "conv2d_1")] == (
        "conv2d_1: bias=True right before BatchNorm is redundant (BN's β subsumes it): "
        "set bias=False"
    )
    assert warnings[("dropout_after_bn", "dropout_1")] == (
        "dropout_1: dropout right after BatchNorm tends to hurt (BN already regularises; the "
        "two interact badly): drop one of them"
    )
    assert ("dropout_after_bn", "dropout_2") not in warnings  # after a ReLU: fine


def test_a_composite_block_does_not_warn_about_its_inner_divisions():
    """Its own layers' formulas are the block's design, not the user's choice."""
    g = chain(image(3, 10, 10), ("conv_bn_relu", {"out_channels": 4, "stride": 2, "padding": 0}))
    report = check(g)
    assert report.ok and report.nodes["conv_bn_relu_1"].shape == (4, 4, 4)
    assert not [p for p in report.warnings if p.code == "pixels_dropped"]
    g2 = chain(image(3, 10, 10), ("conv2d", {"out_channels": 4, "stride": 2}))
    assert [p.code for p in check(g2).warnings if p.code == "pixels_dropped"] == ["pixels_dropped"]


def test_softmax_at_the_output_is_named_and_only_there():
    g = chain(image(1, 4, 4), ("flatten", {}), ("softmax", {}), ("output", {"classes": 0}))
    (warning,) = [p for p in check(g).warnings if p.code == "softmax_output"]
    assert (warning.node_id, warning.message) == (
        "softmax_1",
        "softmax_1: Softmax at the output: cross-entropy training expects raw scores (logits) "
        "and applies log-softmax itself; remove it for training",
    )
    inside = chain(image(1, 4, 4), ("flatten", {}), ("softmax", {}), ("linear", {}))
    assert not [p for p in check(inside).warnings if p.code == "softmax_output"]


def _linear_heavy(conv: tuple[int, int, bool], linear: tuple[int, bool], block="conv2d"):
    """Input c×1×1 → a 1×1 conv c→o → Flatten → Linear o→n: exact parameter counts."""
    c, o, conv_bias = conv
    n, linear_bias = linear
    params = {"out_channels": o, "kernel_size" if block != "conv2d" else "kernel_h": 1}
    if block == "conv2d":
        params |= {"kernel_w": 1, "bias": conv_bias}
    g = chain(
        image(c, 1, 1),
        (block, params),
        ("flatten", {}),
        ("linear", {"out_features": n, "bias": linear_bias}),
    )
    report = check(g)
    return report.total_params, [p.message for p in report.warnings if p.code == "linear_heavy"]


def test_linear_heavy_needs_over_half_of_over_10000_parameters():
    total, warned = _linear_heavy((1, 1, False), (5000, True))  # 1 + 10,000
    assert total == 10_001
    assert warned == [
        "linear layers hold 100% of the 10,001 parameters (linear_1: 100%): global average "
        "pooling before a small classifier (NiN, GoogLeNet, ResNet) removes most of them"
    ]
    assert _linear_heavy((1, 1, True), (4999, True)) == (10_000, [])  # not over 10,000
    assert _linear_heavy((71, 71, False), (71, False)) == (10_082, [])  # exactly half
    assert _linear_heavy((71, 71, False), (50, False)) == (8_591, [])  # 41%, and small
    total, warned = _linear_heavy((80, 80, False), (60, False))  # 4,800 of 11,200: 43%
    assert (total, warned) == (11_200, [])


def test_linear_heavy_counts_composite_convolutions_too():
    total, warned = _linear_heavy((1, 1, False), (5000, True), block="conv_bn_relu")
    assert len(warned) == 1 and f"of the {total:,} parameters" in warned[0]


def test_a_missing_or_second_input_is_named():
    g = Graph()
    g.add_node("relu")
    (error,) = [p for p in check(g).errors if p.code == "no_input"]
    assert error.message == "the network has no Input node: add one"
    g = chain(image(1, 4, 4), ("relu", {}))
    g.add_node("input", {"channels": 1, "height": 4, "width": 4})
    (error,) = [p for p in check(g).errors if p.code == "many_inputs"]
    assert (error.node_id, error.message) == (
        "input_2",
        "input_2: more than one Input node (first is input_1)",
    )


def test_a_disconnected_branch_is_named_and_every_node_still_gets_its_facts():
    g = chain(image(1, 6, 6), ("conv2d", {"out_channels": 2}))  # conv2d_1 → 2×4×4
    stray = g.add_node("relu").id
    g.add_node("tanh")
    g.connect(stray, "tanh_1")
    g.add_node("add", {"inputs": 3})
    g.connect("conv2d_1", "add_1", 0)
    g.add_node("flatten")
    g.connect("add_1", "flatten_1")
    report = check(g)
    problems = {(p.code, p.node_id): p.message for p in report.errors}
    assert problems[("unconnected", "relu_1")] == "relu_1 (ReLU): input port 0 is not connected"
    assert problems[("unreachable", "tanh_1")] == (
        "tanh_1 (Tanh): not reachable from the input input_1: connect it or delete it"
    )
    assert problems[("unconnected", "add_1")] == "add_1 (Add): input port 1, 2 is not connected"
    for nid, node in g.nodes.items():  # nodes after the broken ones are analysed too
        info = report.nodes[nid]
        assert (info.node_id, info.type_id) == (nid, node.type_id)
    assert report.nodes["tanh_1"].shape is None and report.nodes["flatten_1"].shape is None
    assert report.nodes["conv2d_1"].shape == (2, 4, 4)


def test_a_shape_error_keeps_the_node_s_input_shapes():
    g = chain(image(3, 2, 2), ("conv2d", {"out_channels": 4, "kernel_h": 5, "kernel_w": 5}))
    info = check(g).nodes["conv2d_1"]
    assert (info.node_id, info.type_id, info.inputs, info.shape) == (
        "conv2d_1",
        "conv2d",
        ((3, 2, 2),),
        None,
    )


def test_a_merge_sees_as_far_as_its_widest_input():
    g = chain(image(1, 16, 16), ("conv2d", {"out_channels": 2, "padding": 1}))
    g.add_node("conv2d", {"out_channels": 2, "kernel_h": 5, "kernel_w": 5, "padding": 2})
    g.connect("input_1", "conv2d_2")
    g.add_node("add")
    g.connect("conv2d_1", "add_1", 0)
    g.connect("conv2d_2", "add_1", 1)
    report = check(g)
    assert [report.nodes[n].receptive_field for n in ("conv2d_1", "conv2d_2", "add_1")] == [
        3,
        5,
        5,
    ]


def test_counted_says_one_or_many():
    from app.core.shapes import counted

    assert [counted(n, "layer") for n in (0, 1, 2, 1234)] == [
        "0 layers",
        "1 layer",
        "2 layers",
        "1,234 layers",
    ]


def test_nodes_past_a_shape_error_or_a_stray_merge_are_analysed():
    """A shape error, or a merge fed by an unreachable node or a broken branch, does not stop
    the pass: every later node gets its facts, and a stray merge is named too."""
    g = chain(image(3, 8, 8), ("conv2d", {"out_channels": 4, "padding": 1}))
    g.add_node("conv2d", {"out_channels": 4, "kernel_h": 9, "kernel_w": 9}, node_id="too_big")
    g.connect("input_1", "too_big")
    g.add_node("concat", node_id="joined")
    g.connect("conv2d_1", "joined", 0)
    g.connect("too_big", "joined", 1)
    g.add_node("relu", node_id="zz_after")  # sorts last: after every broken node
    g.connect("conv2d_1", "zz_after")
    stray = g.add_node("relu", node_id="stray").id
    g.add_node("add", node_id="stray_sum")
    g.connect(stray, "stray_sum", 0)
    g.connect(stray, "stray_sum", 1)
    report = check(g)
    assert report.nodes["joined"][:3] == ("joined", "concat", ())
    assert report.nodes["joined"].shape is None
    assert report.nodes["zz_after"].shape == (4, 8, 8)
    problems = {(p.code, p.node_id): p.message for p in report.errors}
    assert problems[("unreachable", "stray_sum")] == (
        "stray_sum (Add): not reachable from the input input_1: connect it or delete it"
    )


def test_layers_and_receptive_fields_of_sequences():
    g = chain(
        ("input", {"layout": "sequence", "channels": 2, "width": 20}),
        ("conv1d", {"out_channels": 4, "kernel_size": 5}),
    )
    info = check(g).nodes["conv1d_1"]
    assert (info.shape, info.receptive_field, info.layers) == ((4, 16), 5, 1)
    basic = check(chain(image(8, 8, 8), ("residual", {"kind": "basic", "channels": 8})))
    assert basic.nodes["residual_1"].layers == 2


def test_a_network_without_convolutions_is_not_told_to_pool():
    """The linear-heavy advice is for convolutional networks: an MLP is all linear layers."""
    g = chain(
        ("input", {"layout": "vector", "features": 200}),
        ("linear", {"out_features": 100}),
        ("linear", {"out_features": 10}),
    )
    report = check(g)
    assert report.total_params > 10_000
    assert not [p for p in report.warnings if p.code == "linear_heavy"]
