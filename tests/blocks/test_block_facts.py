"""Every fact a block's ``infer`` states, measured on the module it builds, for every case of
the grids: the MACs (counted by hooks on each conv and linear layer), the receptive field
(which input rows change an output pixel), the formulas (which windowed layers change a size
or stride), the depth in weight layers (the longest path through the traced module), the
number of inputs, and the hyperparameters the module was built with. The grids (cases.py) and
test_blocks.py check the shapes and parameter counts; mutation testing (docs/mutation.md)
showed that nothing else was checked."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch
from torch import fx, nn

from blocks import REGISTRY, ShapeError
from tests.blocks.cases import CASES

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
POOLS = ("maxpool2d", "avgpool2d")


def accepted(type_ids=None, limit: int | None = None):
    """(type_id, params, shapes) of each case ``infer`` accepts; ``limit``: at most that many
    per block (spread over the grid). Each test infers again in its own body: mutation
    testing (mutmut) runs, for a mutant, the tests that called the function while running."""
    for type_id, cases in CASES.items():
        if type_id in ("input",) or (type_ids and type_id not in type_ids):
            continue
        block = REGISTRY.get(type_id)
        found = []
        for raw, shapes in cases:
            params = block.validate(raw)
            try:
                block.infer(params, shapes)
                found.append((type_id, params, shapes))
            except ShapeError:
                continue
        if limit and len(found) > limit:
            step = len(found) / limit
            found = [found[int(i * step)] for i in range(limit)]
        yield from found


def case_id(case) -> str:
    type_id, params, shapes = case
    values = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{type_id}[{values}]{shapes}"


ALL = list(accepted())


def macs_by_hooks(module: nn.Module, shapes) -> int:
    total = 0

    def hook(m, args, out):
        nonlocal total
        if isinstance(m, nn.Linear):
            total += m.in_features * m.out_features * out[0].numel() // m.out_features
        else:
            per_out = m.in_channels // m.groups * math.prod(m.kernel_size)
            total += per_out * out[0].numel()

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, WEIGHTED)]
    with torch.no_grad():
        module.eval()(*(torch.randn(1, *s) for s in shapes))
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("case", ALL, ids=case_id)
def test_macs_are_what_the_module_computes(case):
    type_id, params, shapes = case
    block = REGISTRY.get(type_id)
    inf = block.infer(params, shapes)
    module = block.build(params, shapes)
    assert inf.macs == macs_by_hooks(module, shapes)
    assert isinstance(inf.macs, int) and isinstance(inf.params, int)


def size_changes(module: nn.Module, shape) -> list[tuple[str, int, int]]:
    """(axis, size in, size out) of each windowed layer that strides or changes a size."""
    seen: list[tuple[str, int, int]] = []

    def hook(m, args, out):
        stride = m.stride if isinstance(m.stride, tuple) else (m.stride,) * 2
        for axis, i, o, s in zip("HW", args[0].shape[-2:], out.shape[-2:], stride, strict=True):
            if s != 1 or i != o:
                seen.append((axis, int(i), int(o)))

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, WINDOWED)]
    with torch.no_grad():
        module.eval()(torch.randn(1, *shape))
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize(
    "case",
    [c for c in ALL if REGISTRY.get(c[0]).category == "Composite" or c[0] in ("conv2d", *POOLS)],
    ids=case_id,
)
def test_formulas_are_the_windowed_layers_that_change_a_size(case):
    """A composite lists one formula per axis of each inner layer that strides or changes
    the size (the rest are left out), in order; a conv or a pool lists both axes."""
    type_id, params, shapes = case
    inf = REGISTRY.get(type_id).infer(params, shapes)
    assert isinstance(inf.formulas, tuple)
    module = REGISTRY.get(type_id).build(params, shapes)
    stated = [(f.axis, f.size, f.out) for f in inf.formulas]
    if type_id in ("conv2d", *POOLS):
        changed = size_changes(module, shapes[0])
        assert all(s in stated for s in changed)
        assert [(f.axis, f.out) for f in inf.formulas] == [
            ("H", inf.shape[1]),
            ("W", inf.shape[2]),
        ]
        return
    assert sorted(stated) == sorted(size_changes(module, shapes[0]))


def depth_by_tracing(module: nn.Module) -> int:
    """Weight layers on the longest path through the module's traced graph."""
    if not any(True for _ in module.children()):  # a leaf (conv, BN, Add): itself
        return int(isinstance(module, WEIGHTED))
    traced = fx.symbolic_trace(module)
    depth: dict[fx.Node, int] = {}
    for n in traced.graph.nodes:
        before = max((depth[a] for a in n.all_input_nodes), default=0)
        own = (
            n.op == "call_module"
            and isinstance(traced.get_submodule(n.target), WEIGHTED)
            and not _in_gate(module, str(n.target))
        )
        depth[n] = before + own
    return max(depth.values())


def _in_gate(module: nn.Module, target: str) -> bool:
    """Whether ``target`` lies in a squeeze-excitation gate: its two small layers rescale the
    channels and add no depth (SE-ResNet-50 has 50 layers, as ResNet-50)."""
    parts = target.split(".")
    return any(
        type(module.get_submodule(".".join(parts[:i]))).__name__ == "SqueezeExcite"
        for i in range(len(parts))
    ) or (type(module).__name__ == "SqueezeExcite")


@pytest.mark.parametrize("case", ALL, ids=case_id)
def test_layers_is_the_depth_in_weight_layers(case):
    type_id, params, shapes = case
    inf = REGISTRY.get(type_id).infer(params, shapes)
    module = REGISTRY.get(type_id).build(params, shapes)
    assert inf.layers == depth_by_tracing(module)


def influence(module: nn.Module, shape, size: int) -> dict[int, set[int]]:
    """Output row → the input rows whose change changes it (at the middle column, all
    channels), on a ``size``×``size`` input: one batch of the base image and one image per
    input row raised by 1. The module is in float64 with positive weights (eval mode), so
    every element of a window moves a conv, a pool's max, a ReLU or a sigmoid gate."""
    module = module.double().eval()
    for m in module.modules():  # the field follows the conv path: gates see the whole image
        if type(m).__name__ == "SqueezeExcite":
            m.forward = lambda x: x  # type: ignore[method-assign]
        if isinstance(m, nn.ReLU6):  # with positive weights it saturates: a field of 0
            m.forward = torch.relu  # type: ignore[method-assign]
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.abs() + 0.1)
    c = shape[0]
    x = torch.ones(size + 1, c, size, size, dtype=torch.float64)
    for r in range(size):
        x[r + 1, :, r, :] += 1.0
    with torch.no_grad():
        out = module(x)
    mid = out.shape[-1] // 2
    col = out[:, :, :, mid].sum(dim=1)  # (batch, output rows)
    rows: dict[int, set[int]] = defaultdict(set)
    for r in range(size):
        changed = (col[r + 1] - col[0]).abs() > 1e-9 * (1 + col[0].abs())
        for o in torch.nonzero(changed).flatten().tolist():
            rows[o].add(r)
    return rows


SPATIAL = [
    c
    for c in accepted(limit=60)
    # softmax is pointwise in space, and raising every channel alike leaves it unchanged
    if len(c[2]) == 1 and len(c[2][0]) == 3 and c[0] not in ("conv1d", "softmax")
]


@pytest.mark.parametrize("case", SPATIAL, ids=case_id)
def test_receptive_field_is_what_reaches_an_output_pixel(case):
    """On a 48×48 input, an output row in the middle is changed by input rows spanning
    ``rf_kernel`` rows (with gaps where a dilated kernel skips rows), and the next output
    row's span starts ``rf_stride`` rows later."""
    type_id, params, shapes = case
    block = REGISTRY.get(type_id)
    inf = block.infer(params, shapes)
    size = 48
    shape = (shapes[0][0], size, size)
    try:
        big = block.infer(params, [shape])
    except ShapeError:
        pytest.skip("not defined at 48×48")
    if type_id == "adaptive_avgpool2d":
        if size % params["output_h"]:
            pytest.skip("windows of unequal sizes: no one kernel and stride")
        inf = big  # its window depends on the input's size
    assert (big.rf_kernel, big.rf_stride) == (inf.rf_kernel, inf.rf_stride)
    if len(big.shape) != 3 or big.shape[1] < 3:
        pytest.skip("no output row away from the borders")
    rows = influence(block.build(params, [shape]), shape, size)
    first = big.shape[1] // 2 - 1  # rows in the middle: their fields lie inside the image
    second = first + 1
    assert min(rows[first]) > 0 and max(rows[second]) < size - 1, rows
    kernel = max(rows[first]) - min(rows[first]) + 1
    assert kernel == inf.rf_kernel
    assert min(rows[second]) - min(rows[first]) == inf.rf_stride


@pytest.mark.parametrize(("type_id", "cases"), list(CASES.items()), ids=list(CASES))
def test_ports_are_the_inputs_each_case_gives(type_id, cases):
    block = REGISTRY.get(type_id)
    for raw, shapes in cases:
        n = block.num_inputs(block.validate(raw))
        assert n == (0 if type_id == "input" else len(shapes)), (raw, shapes)


HYPERPARAMETERS = {  # block parameter → the attribute of the torch module it becomes
    "negative_slope": "negative_slope",
    "alpha": "alpha",
    "approximate": "approximate",
    "eps": "eps",
    "momentum": "momentum",
    "p": "p",
    "size": "size",
    "beta": "beta",
    "k": "k",
}


@pytest.mark.parametrize(
    "case",
    [c for c in ALL if any(name in HYPERPARAMETERS for name in c[1])],
    ids=case_id,
)
def test_the_module_is_built_with_the_given_hyperparameters(case):
    type_id, params, shapes = case
    module = REGISTRY.get(type_id).build(params, shapes)
    for name, attr in HYPERPARAMETERS.items():
        if name in params:
            assert getattr(module, attr) == params[name], name


def test_non_default_hyperparameters_reach_the_module_and_its_source():
    cases = [
        ("leaky_relu", {"negative_slope": 0.3}),
        ("elu", {"alpha": 0.5}),
        ("gelu", {"approximate": "tanh"}),
        ("batchnorm2d", {"eps": 1e-3, "momentum": 0.01}),
        ("local_response_norm", {"size": 3, "alpha": 0.001, "beta": 0.5, "k": 1.0}),
    ]
    for type_id, raw in cases:
        block = REGISTRY.get(type_id)
        params = block.validate(raw)
        shape = (4, 5, 5) if "norm" in type_id else (6,)
        module = block.build(params, [shape])
        from_source = eval(block.source(params, [shape]), {"nn": nn})  # as exported
        for name, value in raw.items():
            assert getattr(module, HYPERPARAMETERS[name]) == value
            assert getattr(from_source, HYPERPARAMETERS[name]) == value
    # defaults are left out of the source
    assert REGISTRY.get("leaky_relu").source({"negative_slope": 0.01}, [(6,)]) == "nn.LeakyReLU()"


@pytest.mark.parametrize("case", [c for c in ALL if c[0] == "softmax"], ids=case_id)
def test_softmax_normalises_over_the_channel_axis(case):
    _, params, shapes = case
    module = REGISTRY.get("softmax").build(params, shapes)
    x = torch.randn(3, *shapes[0])
    torch.testing.assert_close(module(x).sum(dim=1), torch.ones(3, *shapes[0][1:]))


COMPOSITES = [c for c in ALL if REGISTRY.get(c[0]).category == "Composite"]


@pytest.mark.parametrize("case", COMPOSITES, ids=case_id)
def test_composite_source_is_the_module_with_no_default_written(case):
    """The exported line builds the same module, writes no argument at its default value
    (nor None), and names only the classes it uses (SqueezeExcite only with a gate)."""
    import inspect

    from blocks import modules

    type_id, params, shapes = case
    block = REGISTRY.get(type_id)
    source = block.source(params, shapes)
    assert "None" not in source
    name, _, kwargs = block.ctor(params, shapes)
    signature = inspect.signature(getattr(modules, name))
    for key, value in kwargs.items():
        assert signature.parameters[key].default != value, (key, source)
    built = block.build(params, shapes)
    from_source = eval(source, {**vars(modules), "nn": nn})
    assert repr(from_source) == repr(built)
    gated = any(type(m).__name__ == "SqueezeExcite" for m in built.modules())
    assert ("SqueezeExcite" in block.classes_used(params)) == gated
    assert name in block.classes_used(params)


PRIMITIVES = [
    c for c in ALL if REGISTRY.get(c[0]).category != "Composite" and c[0] not in ("output",)
]


@pytest.mark.parametrize("case", PRIMITIVES, ids=case_id)
def test_primitive_source_is_the_module_with_no_default_written(case):
    """The exported line of a torch layer builds the module the block builds and writes no
    keyword at the value torch defaults it to (nor None)."""
    import ast
    import inspect

    from blocks import modules

    type_id, params, shapes = case
    block = REGISTRY.get(type_id)
    source = block.source(params, shapes)
    assert "None" not in source
    namespace = {**vars(modules), "nn": nn}
    for line in block.imports(params):  # an opaque module's class
        exec(line, namespace)
    call = ast.parse(source, mode="eval").body
    assert isinstance(call, ast.Call)
    ctor = eval(ast.unparse(call.func), namespace)
    signature = inspect.signature(ctor)
    for keyword in call.keywords:
        value = ast.literal_eval(keyword.value)
        assert signature.parameters[keyword.arg].default != value, (keyword.arg, source)
    assert repr(eval(source, namespace)) == repr(block.build(params, shapes))


def test_square_kernels_and_sizes_are_written_as_one_number():
    conv = REGISTRY.get("conv2d")
    params = conv.validate({"out_channels": 8, "kernel_h": 3, "kernel_w": 3, "bias": False})
    assert conv.source(params, [(3, 8, 8)]) == "nn.Conv2d(3, 8, 3, bias=False)"
    params = conv.validate({"out_channels": 8, "kernel_h": 3, "kernel_w": 1})
    assert conv.source(params, [(3, 8, 8)]) == "nn.Conv2d(3, 8, (3, 1))"
    pool = REGISTRY.get("adaptive_avgpool2d")
    assert pool.source(pool.validate({"output_h": 1, "output_w": 1}), [(3, 8, 8)]) == (
        "nn.AdaptiveAvgPool2d(1)"
    )
    assert pool.source(pool.validate({"output_h": 2, "output_w": 3}), [(3, 8, 8)]) == (
        "nn.AdaptiveAvgPool2d((2, 3))"
    )


@pytest.mark.parametrize(
    ("size", "out", "kernel", "stride"),
    [(10, 4, 3, 2), (5, 7, 2, 1), (12, 4, 3, 3), (7, 1, 7, 7), (9, 2, 5, 4)],
)
def test_adaptive_pooling_windows_by_hand(size, out, kernel, stride):
    """Window i of ``out`` spans rows [⌊i·size/out⌋, ⌈(i+1)·size/out⌉): the largest of them
    and the smallest step, e.g. 10 → 4: [0,3) [2,5) [5,8) [7,10)."""
    block = REGISTRY.get("adaptive_avgpool2d")
    inf = block.infer(block.validate({"output_h": out, "output_w": 2}), [(3, size, 6)])
    assert (inf.rf_kernel, inf.rf_stride) == (kernel, stride)


def test_conv_bn_relu_builds_its_batch_norm_with_the_given_eps():
    block = REGISTRY.get("conv_bn_relu")
    params = block.validate({"out_channels": 4, "bn_eps": 1e-3})
    module = block.build(params, [(3, 8, 8)])
    (bn,) = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn.eps == 1e-3
    assert "bn_eps=0.001" in block.source(params, [(3, 8, 8)])


def test_a_squeeze_gate_keeps_at_least_one_channel_by_hand():
    """Basic block 8 → 8 with reduction 16: 8 // 16 = 0 squeezed channels, so one is kept.
    Two 3×3 convs without bias (2 · 576), two BatchNorms (2 · 16), the gate's 1×1 convs with
    bias (8·1 + 1 and 1·8 + 8): 1,209 parameters."""
    block = REGISTRY.get("residual")
    params = block.validate({"kind": "basic", "channels": 8, "se_reduction": 16})
    assert block.infer(params, [(8, 6, 6)]).params == 2 * 576 + 2 * 16 + 9 + 16
    gate = block.build(params, [(8, 6, 6)]).se
    assert (gate.fc1.out_channels, gate.fc2.in_channels) == (1, 1)
