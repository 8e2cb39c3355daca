"""Random graphs from the whole block catalogue, and the torch oracle that judges the shape pass.

``graphs()`` draws an input (image, vector, sequence or volume, small sizes) and a DAG of up to
``max_blocks`` blocks with random parameters (kernels near the input size, strides, paddings
incl. 'same', dilations, groups, ceil_mode...), each block fed by one of the few most recent
nodes, so chains grow with branches that merges (Add, Concat, Multiply) join again.

``judge(graph)`` runs the graph eagerly in torch, block by block, with real tensors, and compares
with the shape pass: see :func:`judge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st

from app.core.graph import Graph
from app.core.shapes import check
from blocks import REGISTRY, InvalidParamError
from blocks.io import input_shape
from blocks.params import Param
from tests.reliability.reference import REFERENCE

#: the blocks a user draws (an opaque module is made by an import, for one input shape: its
#: own tests are tests/imports/test_opaque.py and the block grids)
CATALOGUE = sorted(
    b.type_id for b in REGISTRY if b.type_id not in ("input", "output") and b.palette
)

SMALL = {  # parameter name → (low, high) drawn instead of the spec's full range
    "out_channels": (1, 8),
    "channels": (1, 8),
    "mid_channels": (0, 6),
    "kernel_size": (1, 9),
    "kernel_h": (1, 9),
    "kernel_w": (1, 9),
    "kernel": (1, 7),
    "stride": (0, 3),
    "padding": (0, 4),
    "dilation": (1, 3),
    "groups": (1, 4),
    "out_features": (1, 12),
    "inputs": (2, 3),
    "reduction": (1, 8),
    "se_reduction": (0, 8),
    "base_width": (16, 128),
    "output_h": (1, 5),
    "output_w": (1, 5),
    "size": (1, 7),
    "squeeze": (1, 6),
    "expand1x1": (1, 6),
    "expand3x3": (1, 6),
    "ch1x1": (1, 5),
    "ch3x3red": (1, 5),
    "ch3x3": (1, 5),
    "ch5x5red": (1, 5),
    "ch5x5": (1, 5),
    "pool_proj": (1, 5),
    "classes": (0, 0),
}


def param_value(spec: Param) -> st.SearchStrategy:
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "float":
        low = spec.minimum if spec.minimum is not None else 0.0
        high = spec.maximum if spec.maximum is not None else 1.0
        if spec.max_exclusive:
            high = high * 0.999
        return st.sampled_from(sorted({low, high, (low + high) / 2, min(high, low + 0.1)}))
    if spec.kind == "ints":
        return st.lists(st.integers(1, 5), min_size=1, max_size=3)
    if spec.kind == "text":
        return st.just(spec.default)
    low, high = SMALL.get(spec.name, (spec.minimum or 0, min(spec.maximum or 8, 8)))
    low = max(low, spec.minimum if spec.minimum is not None else low)
    high = min(high, spec.maximum if spec.maximum is not None else high)
    values = st.integers(low, max(low, high))
    if spec.kind == "padding":
        return st.one_of(values, st.just("same"))
    return values


@st.composite
def graphs(draw, max_blocks: int = 6) -> Graph:
    g = Graph()
    layout = draw(st.sampled_from(["image", "image", "image", "vector", "sequence", "volume"]))
    params = {
        "layout": layout,
        "channels": draw(st.integers(1, 6)),
        "height": draw(st.integers(1, 20)),
        "width": draw(st.integers(1, 20)),
        "depth": draw(st.integers(1, 8)),
        "features": draw(st.integers(1, 24)),
    }
    ids = [g.add_node("input", params).id]
    for _ in range(draw(st.integers(1, max_blocks))):
        block = REGISTRY.get(draw(st.sampled_from(CATALOGUE)))
        values = {p.name: draw(param_value(p)) for p in block.params}
        try:
            node = g.add_node(block.type_id, values)
        except InvalidParamError:
            continue  # refused by validation: that is the editor's job, tested elsewhere
        recent = ids[-3:]
        for port in range(len(g.inputs_of(node.id))):
            g.connect(draw(st.sampled_from(recent)), node.id, port)
        ids.append(node.id)
    g.connect(ids[-1], g.add_node("output").id)
    return g


@dataclass
class Verdict:
    """What torch did with a graph, next to what the shape pass said."""

    predicted_errors: set[str]
    torch_failure: tuple[str, str] | None = None  # (node, message) of the first failure
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # real, per node


def run_eagerly(graph: Graph, batch: int = 2) -> Verdict:
    """Build and run every block in topological order with real tensors, deriving each
    block's input shapes from the real tensors (never from the shape pass). Composite blocks
    run as tests/reliability/reference.py rebuilds them, not as blocks/modules does."""
    report = check(graph)
    verdict = Verdict({p.node_id for p in report.errors if p.node_id})
    values: dict[str, torch.Tensor] = {}
    order = report.order
    for nid in order:
        node = graph.node(nid)
        block = graph.block(nid)
        if node.type_id == "input":
            values[nid] = torch.randn(batch, *input_shape(node.params))
            continue
        sources = graph.inputs_of(nid)
        if any(s is None or s not in values for s in sources):
            continue  # not connected, or fed by a failed block
        inputs = [values[s] for s in sources]  # type: ignore[index]
        if node.type_id == "output":
            continue
        try:
            reference = REFERENCE.get(node.type_id)  # composites: independent plain torch
            module = (
                reference(node.params, inputs[0].shape[1])
                if reference
                else block.build(node.params, [tuple(t.shape[1:]) for t in inputs])
            )
            module.train()
            out = module(*inputs)
        except Exception as exc:  # any torch failure is the oracle's answer
            verdict.torch_failure = (nid, f"{type(exc).__name__}: {exc}")
            return verdict
        values[nid] = out
        verdict.shapes[nid] = tuple(out.shape[1:])
    return verdict
