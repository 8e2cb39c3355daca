"""Every registered block: formula vs a real forward (meta device and CPU), backward, source
round trip, and its errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blocks import REGISTRY, ShapeError, modules
from tests.blocks.cases import CASES, TORCH_LIMITS

ALL_IDS = [b.type_id for b in REGISTRY]
#: blocks that accept every input shape, so they have no ShapeError of their own
SHAPE_AGNOSTIC = [
    "flatten",
    "dropout",
    "relu",
    "relu6",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "softmax",
]


def _cases():
    for type_id, cases in CASES.items():
        for i, (params, shapes) in enumerate(cases):
            yield pytest.param(type_id, params, shapes, id=f"{type_id}-{i}")


def _inputs(shapes, device="cpu", batch=2):
    return [torch.randn(batch, *s, device=device) for s in shapes]


def test_every_block_has_cases():
    assert set(CASES) == set(ALL_IDS), set(ALL_IDS) ^ set(CASES)


def test_every_block_has_an_error_case():
    """Each block that can reject an input has a case where it does; the rest accept any shape."""
    for type_id, cases in CASES.items():
        block = REGISTRY.get(type_id)
        raised = 0
        for params, shapes in cases:
            try:
                block.infer(block.validate(params), shapes)
            except ShapeError:
                raised += 1
        if type_id in SHAPE_AGNOSTIC or type_id == "input":
            # softmax accepts every shape a graph makes; its one refusal is of a scalar
            assert raised == (type_id == "softmax"), type_id
        else:
            assert raised > 0, f"{type_id} has no ShapeError case"


@pytest.mark.parametrize(("type_id", "raw", "shapes"), list(_cases()))
def test_formula_matches_meta_forward(type_id, raw, shapes):
    block = REGISTRY.get(type_id)
    params = block.validate(raw)
    if type_id == "input":
        inf = block.infer(params, [])
        assert all(s > 0 for s in inf.shape)
        return
    try:
        inf = block.infer(params, shapes)
    except ShapeError as exc:
        message = str(exc)
        assert message and ":" in message  # states the problem, then a fix
        if any(key in message for key in TORCH_LIMITS):
            # torch raises assorted exception types for these limits
            with pytest.raises(Exception), torch.device("meta"):  # noqa: B017
                block.build(params, shapes)(*_inputs(shapes, "meta"))
        return
    with torch.device("meta"):
        module = block.build(params, shapes)
        out = module(*_inputs(shapes, "meta"))
    assert tuple(out.shape[1:]) == inf.shape
    n_params = sum(p.numel() for p in module.parameters())
    assert n_params == inf.params


def _accepted(type_id):
    block = REGISTRY.get(type_id)
    for params, shapes in CASES[type_id]:
        params = block.validate(params)
        if type_id == "input":
            continue
        try:
            block.infer(params, shapes)
        except ShapeError:
            continue
        return params, shapes
    return None


@pytest.mark.parametrize("type_id", [t for t in ALL_IDS if t != "input"])
def test_build_forward_backward_cpu(type_id):
    block = REGISTRY.get(type_id)
    params, shapes = _accepted(type_id)
    torch.manual_seed(0)
    module = block.build(params, shapes).train()
    xs = [x.requires_grad_() for x in _inputs(shapes)]
    out = module(*xs)
    assert tuple(out.shape[1:]) == block.infer(params, shapes).shape
    out.float().square().mean().backward()
    assert all(x.grad is not None for x in xs)
    for p in module.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def _namespace():
    ns = {"nn": nn, "torch": torch}
    ns.update({name: getattr(modules, name) for name in dir(modules) if name[0].isupper()})
    return ns


@pytest.mark.parametrize("type_id", [t for t in ALL_IDS if t != "input"])
def test_source_round_trip(type_id):
    """The exported constructor expression builds the same module: same class, same keys,
    same outputs with the same weights."""
    block = REGISTRY.get(type_id)
    for params, shapes in CASES[type_id]:
        params = block.validate(params)
        try:
            block.infer(params, shapes)
        except ShapeError:
            continue
        built = block.build(params, shapes).eval()
        code = block.source(params, shapes)
        assert "\n" not in code
        namespace = _namespace()
        for line in block.imports(params):  # an opaque module's class
            exec(line, namespace)
        rebuilt = eval(code, namespace).eval()
        assert type(rebuilt) is type(built), code
        assert rebuilt.state_dict().keys() == built.state_dict().keys()
        rebuilt.load_state_dict(built.state_dict())
        xs = _inputs(shapes)
        torch.testing.assert_close(rebuilt(*xs), built(*xs))
        for name in block.classes_used(params):
            assert hasattr(modules, name)


def test_input_shapes_follow_layout():
    block = REGISTRY.get("input")
    shapes = [block.infer(block.validate(p), []).shape for p, _ in CASES["input"]]
    assert shapes == [(3, 8, 9), (12,), (2, 7), (2, 3, 4, 5)]


def test_formula_text_shows_numbers():
    block = REGISTRY.get("conv2d")
    inf = block.infer(block.validate({"kernel_h": 5, "kernel_w": 5}), [(3, 32, 32)])
    assert str(inf.formulas[0]) == "H_out = floor((32 − 5 + 2·0) / 1) + 1 = 28"
    dil = block.infer(block.validate({"dilation": 2, "padding": 2}), [(3, 8, 8)])
    assert "F = 2·(3−1)+1 = 5" in str(dil.formulas[0])


def test_kernel_larger_than_padded_input_names_fix():
    block = REGISTRY.get("conv2d")
    with pytest.raises(ShapeError) as info:
        block.infer(block.validate({"kernel_h": 5, "kernel_w": 5}), [(3, 3, 3)])
    assert "kernel 5 > padded input 3" in str(info.value)
    assert "use padding ≥ 1 or a kernel ≤ 3" in str(info.value)


def test_ceil_mode_nin_pool_rounds_up():
    """The course's NiN example: max-pool f=3, s=2 with ceil_mode turns 32 into 16."""
    block = REGISTRY.get("maxpool2d")
    params = block.validate({"kernel_size": 3, "stride": 2, "ceil_mode": True})
    assert block.infer(params, [(96, 32, 32)]).shape == (96, 16, 16)
    params["ceil_mode"] = False
    assert block.infer(params, [(96, 32, 32)]).shape == (96, 15, 15)


def test_same_padding_needs_stride_one():
    block = REGISTRY.get("conv2d")
    with pytest.raises(ShapeError, match="padding='same' needs stride 1"):
        block.infer(block.validate({"padding": "same", "stride": 2}), [(3, 8, 8)])


def test_registry_refuses_duplicates_and_resolves_ids():
    from blocks.base import Registry, UnknownBlockError

    reg = Registry()
    reg.add(REGISTRY.get("relu"))
    with pytest.raises(ValueError, match="already registered"):
        reg.add(REGISTRY.get("relu"))
    with pytest.raises(UnknownBlockError):
        REGISTRY.get("no_such_block")
    assert "conv2d" in REGISTRY and "Convolution" in REGISTRY.categories()


def test_every_param_has_help_and_valid_default():
    for block in REGISTRY:
        assert block.title and block.help and block.category
        for p in block.params:
            assert p.help, (block.type_id, p.name)
            assert p.validate(p.default) == p.default
            if p.kind in ("int", "float", "padding"):
                assert p.maximum is not None, (block.type_id, p.name)


@pytest.mark.parametrize("type_id", SHAPE_AGNOSTIC)
def test_shape_agnostic_blocks_report_graph_errors(type_id):
    """Blocks that accept every shape still get errors: an unconnected input names them, and an
    upstream error leaves them without a shape instead of a second, confusing error."""
    from app.core.graph import Graph
    from app.core.shapes import check

    g = Graph()
    g.add_node("input", {"channels": 3, "height": 4, "width": 4})
    node = g.add_node(type_id)
    report = check(g)
    assert any(p.code == "unconnected" and p.node_id == node.id for p in report.errors)
    bad = g.add_node("conv2d", {"kernel_h": 9, "kernel_w": 9})
    g.connect("input_1", bad.id)
    g.connect(bad.id, node.id)
    report = check(g)
    assert [p.node_id for p in report.errors] == [bad.id]
    assert report.nodes[node.id].shape is None


def test_second_input_block_is_an_error():
    from app.core.graph import Graph
    from app.core.shapes import check

    g = Graph()
    g.add_node("input")
    g.add_node("input")
    assert [p.code for p in check(g).errors] == ["many_inputs"]
