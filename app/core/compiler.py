"""Compile a checked graph into a ``torch.fx.GraphModule``.

The root is a dict of submodules keyed by module name (the node's module path, such as
``layer1.0.conv1``, nested as in the source model, or else its id); the fx graph has one
placeholder (the Input node), one ``call_module`` per block in topological order, and one output.
The generated ``forward`` is plain Python, as fast as hand-written code. ``node_modules`` finds a
node's module again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import fx, nn

from app.core.graph import Graph
from app.core.names import module_name_clashes
from app.core.shapes import ShapeReport, check

#: key of ``GraphModule.meta`` holding node id → module name
MODULE_NAMES = "netbuilder_module_names"


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
    names = graph.module_names()
    clashes = module_name_clashes(names)
    if clashes:
        raise CompileError("; ".join(why for _, why in clashes), clashes[0][0])
    mods = {names[nid]: m for nid, m in build_modules(graph, report).items()}
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
        values[nid] = fxg.call_module(names[nid], args)
    assert report.output_id is not None
    fxg.output(values[report.output_id])
    module = fx.GraphModule(_nest(mods), fxg, class_name="NetBuilderModel")
    module.meta[MODULE_NAMES] = {nid: names[nid] for nid in report.order if names[nid] in mods}
    return module


def weights_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading into ``model`` (empty when it fits)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", extra), ("wrong shape", shapes)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label} ({', '.join(items[:3])}{more})")
    return "; ".join(parts)


def _nest(mods: dict[str, nn.Module]) -> nn.Module:
    """A root module holding ``mods`` under their dotted names, registered in the given order
    (so ``state_dict`` lists them in execution order, as the source model's does)."""
    root = nn.Module()
    for name, module in mods.items():
        *groups, leaf = name.split(".")
        parent = root
        for part in groups:
            if part not in parent._modules:
                parent.add_module(part, nn.Module())
            parent = parent._modules[part]  # type: ignore[assignment]
        parent.add_module(leaf, module)
    return root


def node_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Node id → its module in a compiled model (in execution order), through a wrapper
    (``torch.compile``'s ``_orig_mod``) too. A model without the names (loaded from
    elsewhere): its top-level children."""
    inner = getattr(model, "_orig_mod", model)
    names = getattr(inner, "meta", {}).get(MODULE_NAMES)
    if names is None:
        return dict(inner.named_children())
    return {nid: inner.get_submodule(name) for nid, name in names.items()}


def node_of_module(model: nn.Module) -> dict[str, str]:
    """Module name → node id in a compiled model (the inverse of the names it was built with)."""
    inner = getattr(model, "_orig_mod", model)
    names = getattr(inner, "meta", {}).get(MODULE_NAMES)
    if names is None:
        return {name: name for name, _ in inner.named_children()}
    return {name: nid for nid, name in names.items()}


@dataclass(frozen=True)
class Mismatch:
    node_id: str
    predicted: tuple[int, ...] | None
    actual: tuple[int, ...] | None
    error: str = ""


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.nodes = node_of_module(module)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.failed: tuple[str, str] | None = None

    def run_node(self, n: fx.Node) -> object:
        try:
            result = super().run_node(n)
        except Exception as exc:
            target = str(n.target)
            self.failed = (self.nodes.get(target, target), f"{type(exc).__name__}: {exc}")
            raise
        if n.op == "call_module" and isinstance(result, torch.Tensor):
            self.shapes[self.nodes.get(str(n.target), str(n.target))] = tuple(result.shape[1:])
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
