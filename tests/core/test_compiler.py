"""Compiler: graph → torch.fx.GraphModule, and the meta-device cross-check."""

from __future__ import annotations

import pytest
import torch
from torch import fx

import presets
from app.core.compiler import (
    CompileError,
    compile_graph,
    meta_shapes,
    node_modules,
    node_of_module,
    verify,
)
from app.core.graph import Graph
from app.core.shapes import check, clear_cache
from tests.helpers import chain, image


def hand_built_resnet18_cifar() -> Graph:
    """CIFAR ResNet-18 drawn node by node from primitives: 3×3 stem, no max-pool."""
    g = Graph()
    x = g.add_node("input", {"channels": 3, "height": 32, "width": 32}).id

    def conv_bn(src, cout, k, s, relu=True):
        c = g.add_node(
            "conv2d",
            {
                "out_channels": cout,
                "kernel_h": k,
                "kernel_w": k,
                "stride": s,
                "padding": k // 2,
                "bias": False,
            },
        ).id
        g.connect(src, c)
        b = g.add_node("batchnorm2d").id
        g.connect(c, b)
        if not relu:
            return b
        r = g.add_node("relu").id
        g.connect(b, r)
        return r

    x = conv_bn(x, 64, 3, 1)
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for i in range(2):
            stride = 2 if stage and i == 0 else 1
            branch = conv_bn(conv_bn(x, cout, 3, stride), cout, 3, 1, relu=False)
            short = conv_bn(x, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
            add = g.add_node("add").id
            g.connect(branch, add)
            g.connect(short, add)
            x = g.add_node("relu").id
            g.connect(add, x)
            cin = cout
    for type_id, params in (
        ("global_avgpool", {}),
        ("linear", {"out_features": 10}),
        ("output", {"classes": 10}),
    ):
        n = g.add_node(type_id, params).id
        g.connect(x, n)
        x = n
    return g


def test_hand_built_cifar_resnet18():
    g = hand_built_resnet18_cifar()
    report = check(g)
    assert report.ok, report.errors
    # the three 1×1 stride-2 projection shortcuts never read the last row and column
    assert {(w.code, report.nodes[w.node_id].shape) for w in report.warnings} == {
        ("pixels_dropped", (128, 16, 16)),
        ("pixels_dropped", (256, 8, 8)),
        ("pixels_dropped", (512, 4, 4)),
    }
    assert report.total_params == 11_173_962
    assert report.depth == 18
    model = compile_graph(g, report)
    assert isinstance(model, fx.GraphModule)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962
    x = torch.randn(2, 3, 32, 32)
    y = model(x)
    assert y.shape == (2, 10)
    y.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert verify(g, report) == []


def test_preset_matches_hand_built_resnet18():
    """The composite-block preset and the primitive drawing are the same network."""
    a = check(presets.get("resnet18_cifar").build())
    b = check(hand_built_resnet18_cifar())
    assert a.total_params == b.total_params and a.total_macs == b.total_macs


def test_module_names_are_node_ids_and_forward_is_generated_code():
    g = chain(
        image(1, 8, 8),
        ("conv2d", {"out_channels": 4}),
        ("relu", {}),
        ("flatten", {}),
        ("linear", {"out_features": 3}),
    )
    g.rename_node("conv2d_1", "stem")
    model = compile_graph(g)
    assert [n for n, _ in model.named_children()] == ["stem", "relu_1", "flatten_1", "linear_1"]
    assert set(model.state_dict()) == {
        "stem.weight",
        "stem.bias",
        "linear_1.weight",
        "linear_1.bias",
    }
    assert "self.stem(x)" in model.code


def test_merges_compile_with_port_order():
    g = chain(image(2, 4, 4), ("conv2d", {"out_channels": 3, "padding": 1}))
    g.add_node("concat")
    g.connect("input_1", "concat_1", 1)
    g.connect("conv2d_1", "concat_1", 0)
    model = compile_graph(g)
    x = torch.randn(1, 2, 4, 4)
    y = model(x)
    assert y.shape == (1, 5, 4, 4)
    torch.testing.assert_close(y[:, 3:], x)  # port 1 comes second


def test_compile_refuses_graph_with_errors():
    g = chain(image(3, 3, 3), ("conv2d", {"kernel_h": 5, "kernel_w": 5}))
    with pytest.raises(CompileError, match="1 error") as info:
        compile_graph(g)
    assert info.value.node_id == "conv2d_1"


def test_meta_shapes_agree_and_use_no_memory():
    g = presets.get("resnet18_cifar").build()
    report = check(g)
    shapes = meta_shapes(g, report, batch=512)
    for nid, shape in shapes.items():
        assert report.nodes[nid].shape == shape


def test_verify_reports_a_lying_formula(monkeypatch):
    """If a block's formula were wrong, verify() would catch it."""
    from blocks import REGISTRY, Inference

    g = chain(image(1, 8, 8), ("conv2d", {"out_channels": 4}))
    block = REGISTRY.get("conv2d")
    monkeypatch.setattr(type(block), "infer", lambda self, p, s: Inference((4, 99, 99)))
    clear_cache()  # inference is memoised as a pure function; the patch changes it
    try:
        (mismatch,) = verify(g)
    finally:
        monkeypatch.undo()
        clear_cache()
    assert mismatch.node_id == "conv2d_1"
    assert mismatch.predicted == (4, 99, 99) and mismatch.actual == (4, 6, 6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_forward_backward_on_cuda():
    g = presets.get("resnet18_cifar").build()
    model = compile_graph(g).cuda()
    y = model(torch.randn(4, 3, 32, 32, device="cuda"))
    y.sum().backward()
    assert y.shape == (4, 10) and y.is_cuda


def graph_with_paths() -> Graph:
    """A small net whose nodes carry module paths as an imported model's would: a numbered
    stage (nn.Sequential), a named block with a residual sum, a group numbered from 3 (not
    a Sequential), and nodes without a path (the merge, the flatten, the head)."""
    g = Graph()
    x = g.add_node("input", {"channels": 3, "height": 16, "width": 16}).id

    def add(type_id, params, src, path=""):
        nid = g.add_node(type_id, params, path=path).id
        g.connect(src, nid)
        return nid

    h = add("conv2d", {"out_channels": 8, "padding": 1}, x, "features.0")
    h = add("relu", {}, h, "features.1")
    a = add("conv2d", {"out_channels": 8, "padding": 1, "bias": False}, h, "layer1.0.conv1")
    a = add("batchnorm2d", {}, a, "layer1.0.bn1")
    s = g.add_node("add", {}).id
    g.connect(a, s, 0)
    g.connect(h, s, 1)
    h = add("conv2d", {"out_channels": 4, "kernel_h": 1, "kernel_w": 1}, s, "extra.3.proj")
    h = add("global_avgpool", {}, h)
    h = add("linear", {"out_features": 5}, h, "fc")
    add("output", {}, h)
    return g


def test_module_paths_name_the_compiled_modules_and_nest_them():
    g = graph_with_paths()
    model = compile_graph(g)
    assert list(model.state_dict()) == [
        "features.0.weight",
        "features.0.bias",
        "layer1.0.conv1.weight",
        "layer1.0.bn1.weight",
        "layer1.0.bn1.bias",
        "layer1.0.bn1.running_mean",
        "layer1.0.bn1.running_var",
        "layer1.0.bn1.num_batches_tracked",
        "extra.3.proj.weight",
        "extra.3.proj.bias",
        "fc.weight",
        "fc.bias",
    ]
    modules = node_modules(model)
    assert modules["conv2d_2"] is model.get_submodule("layer1.0.conv1")
    assert list(modules) == [n for n in check(g).order if n not in ("input_1", "output_1")]
    assert node_of_module(model)["layer1.0.bn1"] == "batchnorm2d_1"
    # shapes and failures are reported by node id, whatever the module is called
    assert meta_shapes(g, check(g))["batchnorm2d_1"] == (8, 16, 16)
    assert verify(g) == []


def test_clashing_module_names_are_refused_with_the_node():
    g = graph_with_paths()
    g.set_path("linear_1", "features")  # "features" is already a group
    with pytest.raises(CompileError, match="linear_1: module name 'features' is also the group"):
        compile_graph(g)
    g.set_path("linear_1", "features.1")
    with pytest.raises(CompileError, match=r"module name 'features\.1' is also relu_1's"):
        compile_graph(g)
