"""Compiler: graph → torch.fx.GraphModule, and the meta-device cross-check."""

from __future__ import annotations

import pytest
import torch
from torch import fx

import presets
from app.core.compiler import CompileError, compile_graph, meta_shapes, verify
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
