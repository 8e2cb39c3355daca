"""Compile a checked graph into a ``torch.fx.GraphModule``.

The root is a dict of submodules keyed by node id; the fx graph has one placeholder (the Input
node), one ``call_module`` per block in topological order, and one output. The generated
``forward`` is plain Python, as fast as hand-written code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from app.core.graph import Graph
from app.core.shapes import ShapeReport, check


class CompileError(ValueError):
    """The graph has errors (listed in the message) or a block failed to build."""

    def __init__(self, message: str, node_id: str | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


def build_modules(graph: Graph, report: ShapeReport) -> dict[str, nn.Module]:
    """One module per node except Input and Output, built from the checked input shapes."""
    mods: dict[str, nn.Module] = {}
    for nid in report.order:
        node = graph.nodes[nid]
        if node.type_id in ("input", "output"):
            continue
        info = report.nodes[nid]
        block = graph.registry.get(node.type_id)
        try:
            mods[nid] = block.build(node.params, list(info.inputs))
        except Exception as exc:  # a torch constructor rejected the values: name the node
            raise CompileError(f"{nid} ({block.title}): cannot build: {exc}", nid) from exc
    return mods


def compile_graph(graph: Graph, report: ShapeReport | None = None) -> fx.GraphModule:
    """Compile ``graph``; raises CompileError listing every error if the shape check fails."""
    report = report or check(graph)
    if not report.ok:
        lines = "\n".join(f"  - {p.message}" for p in report.errors)
        first = report.errors[0].node_id
        raise CompileError(f"the network has {len(report.errors)} error(s):\n{lines}", first)
    mods = build_modules(graph, report)
    fxg = fx.Graph()
    values: dict[str, fx.Node] = {}
    for nid in report.order:
        node = graph.nodes[nid]
        if node.type_id == "input":
            values[nid] = fxg.placeholder("x")
            continue
        args = tuple(values[s] for s in graph.inputs_of(nid))  # type: ignore[index]
        if node.type_id == "output":
            values[nid] = args[0]
            continue
        values[nid] = fxg.call_module(nid, args)
    assert report.output_id is not None
    fxg.output(values[report.output_id])
    module = fx.GraphModule(mods, fxg, class_name="NetBuilderModel")
    return module


@dataclass(frozen=True)
class Mismatch:
    node_id: str
    predicted: tuple[int, ...] | None
    actual: tuple[int, ...] | None
    error: str = ""


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.failed: tuple[str, str] | None = None

    def run_node(self, n: fx.Node) -> object:
        try:
            result = super().run_node(n)
        except Exception as exc:
            self.failed = (str(n.target), f"{type(exc).__name__}: {exc}")
            raise
        if n.op == "call_module" and isinstance(result, torch.Tensor):
            self.shapes[str(n.target)] = tuple(result.shape[1:])
        return result


def meta_shapes(graph: Graph, report: ShapeReport, batch: int = 2) -> dict[str, tuple[int, ...]]:
    """Run the compiled model on the ``meta`` device (no memory, no compute) and return the
    real output shape of every module node. Raises CompileError naming the node that failed."""
    with torch.device("meta"):
        module = compile_graph(graph, report)
        x = torch.empty(batch, *report.nodes[report.input_id].shape)  # type: ignore[index,misc]
    recorder = _ShapeRecorder(module)
    try:
        recorder.run(x)
    except Exception as exc:
        nid, text = recorder.failed or ("?", str(exc))
        raise CompileError(f"{nid}: forward failed on the meta device: {text}", nid) from exc
    return recorder.shapes


def verify(graph: Graph, report: ShapeReport | None = None) -> list[Mismatch]:
    """Cross-check the formula pass against a real forward on the meta device.

    Returns the nodes whose predicted and real shapes differ (empty when they agree). Meant for
    tests and an explicit "verify" action, not for every edit.
    """
    report = report or check(graph)
    try:
        actual = meta_shapes(graph, report)
    except CompileError as exc:
        nid = exc.node_id or "?"
        return [
            Mismatch(nid, report.nodes[nid].shape if nid in report.nodes else None, None, str(exc))
        ]
    out: list[Mismatch] = []
    for nid, shape in actual.items():
        predicted = report.nodes[nid].shape
        if predicted != shape:
            out.append(Mismatch(nid, predicted, shape))
    return out
