"""Shape checking: one pass in topological order gives every node's output shape or error,
its statistics, and design lints grounded in the course notes.

Shapes exclude the batch dimension. Parameter and MAC counts follow torchvision (MACs of
convolutions and linear layers); activation memory assumes float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import networkx as nx

from app.core.graph import Graph
from blocks import Formula, Inference, Shape, ShapeError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """An error (the network cannot run) or a warning (a design lint)."""

    severity: Severity
    code: str
    message: str
    node_id: str | None = None

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@dataclass(frozen=True)
class NodeInfo:
    """Everything the shape pass knows about one node. ``shape`` is None when the node has an
    error or an upstream error. ``depth`` counts conv/linear layers on the longest path from the
    input to this node, inclusive."""

    node_id: str
    type_id: str
    inputs: tuple[Shape, ...] = ()
    shape: Shape | None = None
    params: int = 0
    macs: int = 0
    formulas: tuple[Formula, ...] = ()
    receptive_field: int | None = None
    jump: int = 1
    layers: int = 0
    depth: int = 0

    @property
    def memory(self) -> int:
        """Bytes of this node's float32 output activation for one sample."""
        return 4 * math.prod(self.shape) if self.shape is not None else 0


@dataclass(frozen=True)
class ShapeReport:
    order: tuple[str, ...]
    nodes: dict[str, NodeInfo]
    problems: tuple[Problem, ...]
    input_id: str | None = None
    output_id: str | None = None
    _totals: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes.values())

    @property
    def total_macs(self) -> int:
        return sum(n.macs for n in self.nodes.values())

    @property
    def total_memory(self) -> int:
        return sum(n.memory for n in self.nodes.values())

    @property
    def depth(self) -> int:
        """Counted layers (conv + linear) on the longest path, as the course counts depth."""
        return max((n.depth for n in self.nodes.values()), default=0)

    @property
    def output_shape(self) -> Shape | None:
        return self.nodes[self.output_id].shape if self.output_id else None

    def problems_for(self, node_id: str) -> list[Problem]:
        return [p for p in self.problems if p.node_id == node_id]


def check(graph: Graph) -> ShapeReport:
    """Run the shape pass over the whole graph."""
    problems: list[Problem] = []
    registry = graph.registry
    try:
        order = graph.topological_order()
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(graph.nx_graph)
        path = " → ".join(str(e[0]) for e in cycle) + f" → {cycle[0][0]}"
        return ShapeReport(
            (), {}, (Problem("error", "cycle", f"the graph has a cycle: {path}", cycle[0][0]),)
        )

    nodes = graph.nodes
    inputs = [n for n in order if nodes[n].type_id == "input"]
    input_id = inputs[0] if inputs else None
    if not inputs:
        problems.append(Problem("error", "no_input", "the network has no Input node: add one"))
    for extra in inputs[1:]:
        problems.append(
            Problem(
                "error",
                "many_inputs",
                f"{extra}: more than one Input node (first is {input_id})",
                extra,
            )
        )
    reachable = (graph.downstream(input_id) | {input_id}) if input_id else set()

    infos: dict[str, NodeInfo] = {}
    for nid in order:
        node = nodes[nid]
        block = registry.get(node.type_id)
        sources = graph.inputs_of(nid)
        if nid not in reachable and node.type_id != "input" and input_id:
            problems.append(
                Problem(
                    "error",
                    "unreachable",
                    f"{nid} ({block.title}): not reachable from the input "
                    f"{input_id}: connect it or delete it",
                    nid,
                )
            )
        missing = [i for i, s in enumerate(sources) if s is None]
        if missing:
            which = ", ".join(map(str, missing))
            problems.append(
                Problem(
                    "error",
                    "unconnected",
                    f"{nid} ({block.title}): input port {which} is not connected",
                    nid,
                )
            )
            infos[nid] = NodeInfo(nid, node.type_id)
            continue
        ups = [infos[s] for s in sources]  # type: ignore[index]
        in_shapes = [u.shape for u in ups]
        if any(s is None for s in in_shapes):
            infos[nid] = NodeInfo(nid, node.type_id)
            continue
        try:
            inf: Inference = block.infer(node.params, in_shapes)  # type: ignore[arg-type]
        except ShapeError as exc:
            problems.append(Problem("error", "shape", f"{nid} ({block.title}): {exc}", nid))
            infos[nid] = NodeInfo(nid, node.type_id, tuple(in_shapes))  # type: ignore[arg-type]
            continue
        rf_in = max((u.receptive_field or 1 for u in ups), default=1)
        jump_in = max((u.jump for u in ups), default=1)
        spatial = len(inf.shape) > 1
        infos[nid] = NodeInfo(
            nid,
            node.type_id,
            tuple(in_shapes),  # type: ignore[arg-type]
            inf.shape,
            inf.params,
            inf.macs,
            inf.formulas,
            rf_in + (inf.rf_kernel - 1) * jump_in if spatial else None,
            jump_in * inf.rf_stride,
            inf.layers,
            inf.layers + max((u.depth for u in ups), default=0),
        )

    output_id = _find_output(graph, order, reachable, problems)
    problems.extend(_lints(graph, infos))
    return ShapeReport(tuple(order), infos, tuple(problems), input_id, output_id)


def _find_output(
    graph: Graph, order: list[str], reachable: set[str], problems: list[Problem]
) -> str | None:
    nodes = graph.nodes
    outputs = [n for n in order if nodes[n].type_id == "output"]
    for extra in outputs[1:]:
        problems.append(
            Problem(
                "error",
                "many_outputs",
                f"{extra}: more than one Output node (first is {outputs[0]})",
                extra,
            )
        )
    sinks = [n for n in order if n in reachable and not graph.successors(n)]
    if outputs:
        for sink in sinks:
            if sink not in outputs:
                problems.append(
                    Problem(
                        "error",
                        "many_outputs",
                        f"{sink} ({graph.block(sink).title}): its result is never used, so the "
                        f"network would have more than one output: connect it or delete it",
                        sink,
                    )
                )
        return outputs[0]
    if len(sinks) > 1:
        problems.append(
            Problem(
                "error",
                "many_outputs",
                f"more than one output ({', '.join(sinks)}): merge the branches or add an Output "
                "node after the one you mean",
                sinks[-1],
            )
        )
    return sinks[-1] if sinks else None


def _lints(graph: Graph, infos: dict[str, NodeInfo]) -> list[Problem]:
    out: list[Problem] = []
    nodes = graph.nodes
    for nid, info in infos.items():
        node = nodes[nid]
        if graph.registry.get(node.type_id).category != "Composite":
            out.extend(_dropped_pixels(nid, info.formulas))
        succ = graph.successors(nid)
        kinds = {nodes[s].type_id for s in succ}
        if node.params.get("bias") and succ and kinds <= {"batchnorm1d", "batchnorm2d"}:
            out.append(
                Problem(
                    "warning",
                    "bias_before_bn",
                    f"{nid}: bias=True right before BatchNorm is redundant (BN's β subsumes it): "
                    "set bias=False",
                    nid,
                )
            )
        if node.type_id in ("dropout", "dropout2d"):
            src = graph.inputs_of(nid)[0]
            if src and nodes[src].type_id in ("batchnorm1d", "batchnorm2d"):
                out.append(
                    Problem(
                        "warning",
                        "dropout_after_bn",
                        f"{nid}: dropout right after BatchNorm tends to hurt (BN already "
                        "regularises; the two interact badly): drop one of them",
                        nid,
                    )
                )
        if node.type_id == "softmax" and (not succ or kinds == {"output"}):
            out.append(
                Problem(
                    "warning",
                    "softmax_output",
                    f"{nid}: Softmax at the output: cross-entropy training expects raw scores "
                    "(logits) and applies log-softmax itself; remove it for training",
                    nid,
                )
            )
    total = sum(i.params for i in infos.values())
    linear = {n: i.params for n, i in infos.items() if nodes[n].type_id == "linear"}
    if total and sum(linear.values()) > total / 2 and total > 10_000:
        big = max(linear, key=linear.__getitem__)
        share = 100 * sum(linear.values()) / total
        out.append(
            Problem(
                "warning",
                "linear_heavy",
                f"linear layers hold {share:.0f}% of the {total:,} parameters ({big}: "
                f"{100 * linear[big] / total:.0f}%): global average pooling before a small "
                "classifier (NiN, GoogLeNet, ResNet) removes most of them",
                big,
            )
        )
    return out


def _dropped_pixels(nid: str, formulas: tuple[Formula, ...]) -> list[Problem]:
    """The course's advice: make the formula's inner division exact. Warn only when real input
    pixels (not just padding) are never covered by a window."""
    by_numbers: dict[tuple[int, int, int, int], list[str]] = {}
    for f in formulas:
        dropped = 0 if f.exact or f.ceil else f.numerator % f.stride - f.padding
        if dropped > 0:
            by_numbers.setdefault((f.size, f.kernel, f.padding, f.stride), []).append(f.axis)
    out = []
    for (size, kernel, pad, stride), axes in by_numbers.items():
        num = size - kernel + 2 * pad
        out.append(
            Problem(
                "warning",
                "pixels_dropped",
                f"{nid}: ({size} − {kernel} + 2·{pad}) / {stride} = {num / stride:g} is not an "
                f"integer, so floor() silently drops the last {num % stride - pad} input "
                f"row(s)/column(s) along {' and '.join(axes)}: change padding or the input size so "
                "the division is exact",
                nid,
            )
        )
    return out
