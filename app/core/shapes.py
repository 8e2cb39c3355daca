"""Shape checking: one pass in topological order gives every node's output shape or error,
its statistics, and design lints grounded in the course notes.

Shapes exclude the batch dimension. Parameter and MAC counts follow torchvision (MACs of
convolutions and linear layers); activation memory assumes float32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from app.core.graph import Graph, Node, topological_sort
from blocks import BlockType, Formula, Inference, Shape, ShapeError, shape_text

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


class NodeInfo(NamedTuple):
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


_MEMO: dict[tuple, Inference | ShapeError] = {}
_MEMO_LIMIT = 100_000


def _infer(block: BlockType, params: Mapping, shapes: tuple[Shape, ...]) -> Inference | ShapeError:
    """``block.infer``, memoised by content: it is a pure function of the block type, the param
    values and the input shapes, and networks repeat identical layers."""
    key = (block, *params.values(), *shapes)  # the block object: one registry's, not another's
    hit = _MEMO.get(key)
    if hit is None:
        try:
            hit = block.infer(params, shapes)
        except ShapeError as exc:
            hit = exc
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = hit
    return hit


def clear_cache() -> None:
    """Forget memoised inferences and every graph's kept pass (for benchmarks of a cold pass,
    and for tests that change what a block infers)."""
    global _GENERATION
    _MEMO.clear()
    _GENERATION += 1


_GENERATION = 0  # bumped by clear_cache: a graph's kept pass from before is not used


def kept_on(graph: Graph, name: str) -> dict:
    """A dict in which a pass over ``graph`` keeps per-node results for its next run (its
    entries must check what they were computed from); emptied by :func:`clear_cache`."""
    slot = graph.derived.get(name)
    if slot is None or slot[0] != _GENERATION:
        slot = graph.derived[name] = (_GENERATION, {})
    return slot[1]


class _Kept:
    """What a graph's last shape pass keeps for the next one, so that an edit re-checks the
    whole graph but recomputes only what the edit changed:

    - the topological order, while ``graph.topology_version`` is unchanged;
    - per node, its result with the params dict, block and upstream results it came from.
      ``Graph.set_params`` replaces a node's params dict, so the same dict means the same
      values; a recomputed result equal to the kept one keeps the kept object, so the nodes
      downstream of an edit that changed no shape are found unchanged too;
    - per node, its design lints, and the output node with its problems, while the topology
      is unchanged (they read only the node, its result and its neighbours' types).
    """

    __slots__ = ("lints", "nodes", "order", "output", "registry", "succ", "topology")

    def __init__(self, graph: Graph) -> None:
        self.registry = graph.registry
        self.topology = -1
        self.order: list[str] = []
        self.succ: dict[str, list[str]] = {}
        self.nodes: dict[str, tuple] = {}  # id → (params, block, upstream infos, NodeInfo)
        self.lints: dict[str, tuple] = {}  # id → (NodeInfo, params, problems)
        self.output: tuple | None = None  # (output id, problems)

    @classmethod
    def of(cls, graph: Graph) -> _Kept:
        store = kept_on(graph, "shapes")
        kept = store.get("pass")
        if kept is None or kept.registry is not graph.registry:
            kept = store["pass"] = cls(graph)
        if kept.topology != graph.topology_version:
            kept.order, kept.succ = topological_sort(graph.port_table())
            kept.topology = graph.topology_version
            kept.nodes = {k: v for k, v in kept.nodes.items() if k in kept.succ}
            kept.lints, kept.output = {}, None
        return kept


def check(graph: Graph) -> ShapeReport:
    """Run the shape pass over the whole graph (topological sort included)."""
    problems: list[Problem] = []
    registry = graph.registry
    nodes = graph.nodes
    ports = graph.port_table()
    kept = _Kept.of(graph)
    order, succ, memo = kept.order, kept.succ, kept.nodes
    if len(order) < len(nodes):
        import networkx as nx  # only for a corrupt graph; keeps networkx off start-up

        cycle = nx.find_cycle(graph.nx_graph)
        path = " → ".join(str(e[0]) for e in cycle) + f" → {cycle[0][0]}"
        return ShapeReport(
            (), {}, (Problem("error", "cycle", f"the graph has a cycle: {path}", cycle[0][0]),)
        )

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

    infos: dict[str, NodeInfo] = {}
    reachable: set[str] = {input_id} if input_id else set()
    types: dict[str, BlockType] = {}
    for nid in order:
        node = nodes[nid]
        type_id = node.type_id
        block = types.get(type_id) or types.setdefault(type_id, registry.get(type_id))
        sources = ports[nid]
        if len(sources) == 1 and sources[0] is not None:  # the common case: one input
            src = sources[0]
            if src in reachable:
                reachable.add(nid)
            elif input_id:
                problems.append(_unreachable(nid, block, input_id))
            up = infos[src]
            if up.shape is None:
                infos[nid] = NodeInfo(nid, type_id)
                continue
            hit = memo.get(nid)
            if hit is not None and hit[0] is node.params and hit[2][0] is up and hit[1] is block:
                infos[nid] = hit[3]  # nothing it depends on changed
                continue
            ups = (up,)
            in_shapes: tuple[Shape, ...] = (up.shape,)
            rf_in, jump_in, depth_in = up.receptive_field or 1, up.jump, up.depth
        else:
            connected = [s for s in sources if s is not None]
            if any(s in reachable for s in connected):
                reachable.add(nid)
            elif input_id and nid not in reachable and type_id != "input":
                problems.append(_unreachable(nid, block, input_id))
            if len(connected) < len(sources):
                which = ", ".join(str(i) for i, s in enumerate(sources) if s is None)
                problems.append(
                    Problem(
                        "error",
                        "unconnected",
                        f"{nid} ({block.title}): input port {which} is not connected",
                        nid,
                    )
                )
                infos[nid] = NodeInfo(nid, type_id)
                continue
            ups = tuple(infos[s] for s in connected)
            if any(u.shape is None for u in ups):
                infos[nid] = NodeInfo(nid, type_id)
                continue
            hit = memo.get(nid)
            if (
                hit is not None
                and hit[0] is node.params
                and hit[1] is block
                and len(hit[2]) == len(ups)
                and all(a is b for a, b in zip(hit[2], ups, strict=True))
            ):
                infos[nid] = hit[3]
                continue
            in_shapes = tuple(u.shape for u in ups)  # type: ignore[misc]
            rf_in = max((u.receptive_field or 1 for u in ups), default=1)
            jump_in = max((u.jump for u in ups), default=1)
            depth_in = max((u.depth for u in ups), default=0)
        inf = _infer(block, node.params, in_shapes)
        if isinstance(inf, ShapeError):
            problems.append(Problem("error", "shape", f"{nid} ({block.title}): {inf}", nid))
            infos[nid] = NodeInfo(nid, type_id, in_shapes)
            continue
        info = NodeInfo(
            nid,
            type_id,
            in_shapes,
            inf.shape,
            inf.params,
            inf.macs,
            inf.formulas,
            rf_in + (inf.rf_kernel - 1) * jump_in if len(inf.shape) > 1 else None,
            jump_in * inf.rf_stride,
            inf.layers,
            inf.layers + depth_in,
        )
        hit = memo.get(nid)
        if hit is not None and hit[3] == info:
            info = hit[3]  # the same result: downstream nodes find their input unchanged
        memo[nid] = (node.params, block, ups, info)
        infos[nid] = info

    if kept.output is None:
        found: list[Problem] = []
        kept.output = (_find_output(graph, order, succ, reachable, found), found)
    output_id = kept.output[0]
    problems.extend(kept.output[1])
    problems.extend(_lints(graph, infos, succ, types, kept.lints))
    return ShapeReport(tuple(order), infos, tuple(problems), input_id, output_id)


def _unreachable(nid: str, block: BlockType, input_id: str) -> Problem:
    return Problem(
        "error",
        "unreachable",
        f"{nid} ({block.title}): not reachable from the input {input_id}: connect it or delete it",
        nid,
    )


def _find_output(
    graph: Graph,
    order: list[str],
    succ: dict[str, list[str]],
    reachable: set[str],
    problems: list[Problem],
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
    sinks = [n for n in order if n in reachable and not succ[n]]
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


def counted(n: int, noun: str) -> str:
    """'1 layer', '5 layers' (report texts)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _lints(
    graph: Graph,
    infos: dict[str, NodeInfo],
    successors: dict[str, list[str]],
    types: dict[str, BlockType],
    kept: dict[str, tuple],
) -> list[Problem]:
    """The design lints. ``kept``: each node's lints from a pass over the same topology, used
    again while its result and params are the same objects."""
    out: list[Problem] = []
    nodes = graph.nodes
    ports = graph.port_table()
    for nid, info in infos.items():
        node = nodes[nid]
        hit = kept.get(nid)
        if hit is not None and hit[0] is info and hit[1] is node.params:
            out.extend(hit[2])
            continue
        start = len(out)
        _node_lints(nid, node, info, successors[nid], types, nodes, ports, out)
        kept[nid] = (info, node.params, out[start:])
    total = sum(i.params for i in infos.values())
    linear = {n: i.params for n, i in infos.items() if types[nodes[n].type_id].fully_connected}
    convolutional = any(
        types[nodes[n].type_id].category in ("Convolution", "Composite") for n in infos
    )
    if convolutional and total and sum(linear.values()) > total / 2 and total > 10_000:
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


def _node_lints(
    nid: str,
    node: Node,
    info: NodeInfo,
    succ: list[str],
    types: dict[str, BlockType],
    nodes: Mapping[str, Node],
    ports: Mapping[str, list[str | None]],
    out: list[Problem],
) -> None:
    """One node's design lints, appended to ``out``."""
    formulas = info.formulas
    if (
        formulas
        and not all(f.exact for f in formulas)
        and types[node.type_id].category != "Composite"
    ):
        out.extend(_dropped_pixels(nid, formulas))
    block = types[node.type_id]
    if (
        node.params.get("bias")
        and succ
        and all(types[nodes[s].type_id].normalizes_batch for s in succ)
    ):
        out.append(
            Problem(
                "warning",
                "bias_before_bn",
                f"{nid}: bias=True right before BatchNorm is redundant (BN's β subsumes it): "
                "set bias=False",
                nid,
            )
        )
    if block.drops_out:
        src = ports[nid][0]
        if src and types[nodes[src].type_id].normalizes_batch:
            out.append(
                Problem(
                    "warning",
                    "dropout_after_bn",
                    f"{nid}: dropout right after BatchNorm tends to hurt (BN already "
                    "regularises; the two interact badly): drop one of them",
                    nid,
                )
            )
    if block.inline == "+" and info.shape is not None:
        out.extend(_expanded_inputs(nid, info))
    if block.outputs_probabilities and all(nodes[s].type_id == "output" for s in succ):
        out.append(
            Problem(
                "warning",
                "softmax_output",
                f"{nid}: Softmax at the output: cross-entropy training expects raw scores "
                "(logits) and applies log-softmax itself; remove it for training",
                nid,
            )
        )


def _expanded_inputs(nid: str, info: NodeInfo) -> list[Problem]:
    """Add broadcasts as torch does; say so, since a residual sum normally has equal shapes."""
    expanded = [f"{i} ({shape_text(s)})" for i, s in enumerate(info.inputs) if s != info.shape]
    if not expanded:
        return []
    return [
        Problem(
            "warning",
            "add_broadcast",
            f"{nid}: input {', '.join(expanded)} is expanded to {shape_text(info.shape)} by "
            "broadcasting: fine for a bias or gate, but a residual shortcut normally matches "
            "the branch (a 1×1 convolution with the branch's stride)",
            nid,
        )
    ]


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
