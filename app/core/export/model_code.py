"""Export a graph as one standalone PyTorch file that imports only torch.

The file holds the composite block classes the graph uses (copied from ``blocks.modules``),
one ``nn.Module`` class with an attribute per node (named by node id, so ``state_dict`` keys
equal the compiled model's and weights move both ways), a straight-line ``forward`` with
merges written as ``+`` / ``torch.cat`` / ``*``, and a smoke run under ``__main__``. Lines are
wrapped as ruff formats them (default settings: 88 columns).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import re
from pathlib import Path
from typing import Any

from app.core.graph import Graph
from app.core.names import RESERVED_CLASS_NAMES, module_name_clashes, safe_text, string_literal
from app.core.shapes import ShapeReport, check, counted
from blocks import shape_text

WIDTH = 88


class ExportError(ValueError):
    """The graph cannot be exported; the message names the problem (and node)."""


def class_name(name: str) -> str:
    """'resnet18_cifar' → 'Resnet18Cifar'; 'LeNet-5' → 'LeNet5'; empty → 'Net'. A name the
    generated files already use (a keyword such as ``None``, a builtin, a composite block's
    class such as ``Fire``, a training-script constant such as ``LR``) gets ``Net`` appended."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = "".join(w[0].upper() + w[1:] for w in words)
    if not text or not text[0].isalpha():
        text = "Net" + text
    while text in RESERVED_CLASS_NAMES or text in module_definitions():
        text += "Net"
    return text


def export_model_code(graph: Graph, name: str = "Net", report: ShapeReport | None = None) -> str:
    """The source of a standalone module defining ``class <Name>(nn.Module)``."""
    report = report or check(graph)
    if not report.ok:
        problems = "; ".join(p.message for p in report.errors[:3])
        raise ExportError(f"the network has {len(report.errors)} error(s): {problems}")
    clashes = module_name_clashes(graph.module_names())
    if clashes:
        raise ExportError("; ".join(why for _, why in clashes))
    cls = class_name(name)
    order = report.order
    in_shape = report.nodes[report.input_id].shape  # type: ignore[index]
    imports = dict.fromkeys(
        line
        for nid in order
        for line in graph.registry.get(graph.nodes[nid].type_id).imports(graph.nodes[nid].params)
    )
    head = "\n".join(["import torch", "from torch import nn", *imports])
    parts = [_header(cls, name, report) + "\n" + head + "\n"]
    for source in _composite_sources(graph, order):
        parts.append(source)
    parts.append(_main_class(cls, graph, report))
    example = ", ".join(str(s) for s in (2, *in_shape))  # type: ignore[misc]
    parts.append(
        'if __name__ == "__main__":\n'
        f"    model = {cls}()\n"
        f"    out = model(torch.randn({example}))\n"
        f"    print(tuple(out.shape))  # (2, {', '.join(map(str, report.output_shape or ()))})\n"
    )
    return "\n\n".join(p.rstrip("\n") + "\n" for p in parts).replace("\n\n\n\n", "\n\n\n")


def _header(cls: str, name: str, report: ShapeReport) -> str:
    in_shape = report.nodes[report.input_id].shape  # type: ignore[index]
    out = report.output_shape
    shown = safe_text(name, 60)  # a project name cannot end the docstring or add lines
    lines = [
        f'"""{cls}: exported by NetBuilder{f" from {shown}" if shown else ""}.',
        "",
        f"Input {shape_text(in_shape)}, output {shape_text(out) if out else '?'}, "  # type: ignore[arg-type]
        f"{report.total_params:,} parameters, {report.total_macs / 1e6:,.1f} M MACs, "
        f"{counted(report.depth, 'layer')}.",
        "The state_dict keys are the module names of the NetBuilder graph",
        "(each node's module path, or its id).",
        '"""',
    ]
    return "\n".join(_wrap_text(line) for line in lines) + "\n"


def _wrap_text(line: str) -> str:
    if len(line) <= WIDTH:
        return line
    words, out, cur = line.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > WIDTH:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    out.append(cur)
    return "\n".join(out)


@functools.cache
def module_definitions() -> dict[str, tuple[str, frozenset[str]]]:
    """Top-level classes and functions of ``blocks.modules``: name → (source, names of other
    definitions it uses). Read from the file with ast, so exporting code does not import
    torch (the GUI's code panel stays off torch's start-up cost)."""
    spec = importlib.util.find_spec("blocks.modules")
    assert spec is not None and spec.origin is not None
    text = Path(spec.origin).read_text(encoding="utf-8")
    tree = ast.parse(text)
    defs = [n for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)]
    names = {d.name for d in defs}
    out = {}
    for d in defs:
        source = ast.get_source_segment(text, d) or ""
        if d.decorator_list:  # include decorators in the copied source
            first = min(x.lineno for x in d.decorator_list)
            source = "\n".join(text.splitlines()[first - 1 : d.end_lineno])
        used = {n.id for n in ast.walk(d) if isinstance(n, ast.Name) and n.id in names}
        out[d.name] = (source + "\n", frozenset(used - {d.name}))
    return out


def _composite_sources(graph: Graph, order: tuple[str, ...]) -> list[str]:
    """Sources of the composite classes the graph uses and what they depend on, in the order
    they are defined in ``blocks.modules``."""
    defs = module_definitions()
    wanted: set[str] = set()
    todo = [
        cls
        for nid in order
        if not graph.registry.get(graph.nodes[nid].type_id).inline
        for cls in graph.registry.get(graph.nodes[nid].type_id).classes_used(
            graph.nodes[nid].params
        )
    ]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += defs[name][1]
    return [source for name, (source, _) in defs.items() if name in wanted]


def _split_call(source: str) -> tuple[str, list[str]]:
    """'nn.Conv2d(3, 6, kernel_size=5)' → ('nn.Conv2d', ['3', '6', 'kernel_size=5'])."""
    call = ast.parse(source, mode="eval").body
    assert isinstance(call, ast.Call)
    args = [ast.get_source_segment(source, a) or ast.unparse(a) for a in call.args]
    args += [
        f"{k.arg}={ast.get_source_segment(source, k.value) or ast.unparse(k.value)}"
        for k in call.keywords
    ]
    return ast.get_source_segment(source, call.func) or ast.unparse(call.func), args


def _fit(indent: int, head: str, args: list[str], tail: str = ")") -> list[str]:
    """One statement ``head + args + tail`` wrapped as ruff formats a call."""
    pad = " " * indent
    one = f"{pad}{head}{', '.join(args)}{tail}"
    if len(one) <= WIDTH:
        return [one]
    inner = f"{pad}    {', '.join(args)}"
    if len(inner) <= WIDTH:
        return [f"{pad}{head}", inner, f"{pad}{tail}"]
    return [f"{pad}{head}", *[f"{pad}    {a}," for a in args], f"{pad}{tail}"]


def _main_class(cls: str, graph: Graph, report: ShapeReport) -> str:
    init = [
        f"class {cls}(nn.Module):",
        "    def __init__(self) -> None:",
        "        super().__init__()",
    ]
    tree = _module_tree(graph, report)
    for name, item in tree.items():
        if isinstance(item, str):
            ctor, args = _split_call(_source(graph, report, item))
            init += _fit(8, f"self.{name} = {ctor}(", args)
        else:
            init += _container(8, f"self.{name} = ", item, graph, report, "")
    if len(init) == 3:
        init.append("        pass")
    forward = ["    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    forward += _forward_body(graph, report)
    return "\n".join(init) + "\n\n" + "\n".join(forward) + "\n"


def _module_tree(graph: Graph, report: ShapeReport) -> dict[str, Any]:
    """The modules by name part: a node id (a leaf) or a sub-tree (a group), in order."""
    tree: dict[str, Any] = {}
    names = graph.module_names()
    for nid in report.order:
        node = graph.nodes[nid]
        block = graph.registry.get(node.type_id)
        if node.type_id in ("input", "output") or block.inline:
            continue
        *groups, leaf = names[nid].split(".")
        branch = tree
        for part in groups:
            branch = branch.setdefault(part, {})
        branch[leaf] = nid
    return tree


def _accessors(tree: dict[str, Any], prefix: str = "self.") -> dict[str, str]:
    """Node id → Python that reaches its module from ``self``: ``self.layer1[0].conv1`` is
    ``self.layer1[0]["conv1"]`` (``nn.Sequential`` members by number, ``nn.ModuleDict``
    members by key)."""
    out: dict[str, str] = {}
    seq = _sequential(tree)
    for key, item in tree.items():
        if prefix == "self.":
            here = f"self.{key}"
        else:
            here = f"{prefix}[{key}]" if seq else f"{prefix}[{string_literal(key)}]"
        if isinstance(item, str):
            out[item] = here
        else:
            out.update(_accessors(item, here))
    return out


def _leaves(tree: dict[str, Any]) -> list[str]:
    return [
        n for item in tree.values() for n in ([item] if isinstance(item, str) else _leaves(item))
    ]


def _chains(
    tree: dict[str, Any], graph: Graph, prefix: str = "self."
) -> dict[str, tuple[str, list[str]]]:
    """First node → (the container's accessor, its nodes) for each largest ``nn.Sequential``
    group whose modules run one after another, each fed only by the one before: the forward
    calls the group once (``x = self.layer1(x)``), as torchvision's files do."""
    out: dict[str, tuple[str, list[str]]] = {}
    seq = _sequential(tree)
    for key, item in tree.items():
        if isinstance(item, str):
            continue
        here = f"self.{key}" if prefix == "self." else f"{prefix}[{key}]"
        nodes = _leaves(item)
        if _callable(item) and _is_chain(nodes, graph):
            out[nodes[0]] = (here, nodes)
        elif seq or prefix == "self.":  # a ModuleDict's members are reached by key, not here
            out.update(_chains(item, graph, here))
    return out


def _callable(tree: dict[str, Any]) -> bool:
    """Whether a group and all its sub-groups are ``nn.Sequential`` (a ModuleDict has no
    forward)."""
    return _sequential(tree) and all(isinstance(i, str) or _callable(i) for i in tree.values())


def _is_chain(nodes: list[str], graph: Graph) -> bool:
    if len([s for s in graph.inputs_of(nodes[0]) if s is not None]) != 1:
        return False
    for before, node in itertools.pairwise(nodes):
        if graph.inputs_of(node) != [before] or list(graph.successors(before)) != [node]:
            return False
    return True


def _source(graph: Graph, report: ShapeReport, nid: str) -> str:
    node = graph.nodes[nid]
    return graph.registry.get(node.type_id).source(node.params, list(report.nodes[nid].inputs))


def _sequential(tree: dict[str, Any]) -> bool:
    """Whether a group's members are numbered 0, 1, 2… (an ``nn.Sequential``)."""
    return list(tree) == [str(i) for i in range(len(tree))]


def _container(
    indent: int, head: str, tree: dict[str, Any], graph: Graph, report: ShapeReport, tail: str
) -> list[str]:
    """A group of modules as ``nn.Sequential`` (members numbered from 0) or ``nn.ModuleDict``
    (named members), nested as the module paths are, so ``state_dict`` keys are the paths."""
    pad = " " * indent
    seq = _sequential(tree)
    lines = [f"{pad}{head}nn.Sequential(" if seq else f"{pad}{head}nn.ModuleDict(", ""]
    lines.pop()
    if not seq:
        lines.append(f"{pad}    {{")
    inner = indent + (4 if seq else 8)
    for key, item in tree.items():
        label = "" if seq else f"{string_literal(key)}: "
        if isinstance(item, str):
            ctor, args = _split_call(_source(graph, report, item))
            lines += _fit(inner, f"{label}{ctor}(", args, "),")
        else:
            lines += _container(inner, label, item, graph, report, ",")
    if not seq:
        lines.append(f"{pad}    }}")
    lines.append(f"{pad}){tail}")
    return lines


def chain_first_order(graph: Graph, order: tuple[str, ...]) -> list[str]:
    """A topological order that follows each chain to its end before starting another, so
    a branch reads as one block of lines (ties keep the graph's order)."""
    rank = {n: i for i, n in enumerate(order)}
    waiting = {n: sum(1 for s in graph.inputs_of(n) if s is not None) for n in order}
    ready = sorted((n for n, w in waiting.items() if w == 0), key=rank.__getitem__)
    out: list[str] = []
    while ready:
        node = ready.pop(0)
        out.append(node)
        newly = []
        for succ in sorted(set(graph.successors(node)), key=rank.__getitem__):
            waiting[succ] -= graph.inputs_of(succ).count(node)
            if waiting[succ] == 0:
                newly.append(succ)
        ready = newly + ready
    return out


def _forward_body(graph: Graph, report: ShapeReport) -> list[str]:
    """Straight-line code: ``x`` carries the main path, ``out`` a branch; a variable is reused
    as soon as its value is no longer needed."""
    tree = _module_tree(graph, report)
    access = _accessors(tree)
    chains = _chains(tree, graph)
    skip: dict[str, str] = {}  # a chain's later node → its first
    for first, (_, nodes) in chains.items():
        skip.update(dict.fromkeys(nodes[1:], first))
    consumers = {n: 0 for n in report.order}
    for edge in graph.edges():
        consumers[edge.src] += 1
    var: dict[str, str] = {}
    holder: dict[str, str] = {}  # variable name → node whose value it holds
    lines: list[str] = []
    for nid in chain_first_order(graph, report.order):
        node = graph.nodes[nid]
        if node.type_id == "input":
            var[nid], holder["x"] = "x", nid
            continue
        if nid in skip:  # computed by its chain's call
            var[nid] = var[skip[nid]]
            holder[var[nid]] = nid
            continue
        sources = [s for s in graph.inputs_of(nid) if s is not None]
        args = [var[s] for s in sources]
        for s in sources:
            consumers[s] -= 1
        if node.type_id == "output":
            var[nid] = args[0]
            continue
        dead = [a for a in dict.fromkeys(args) if consumers[holder[a]] == 0]
        if dead:
            out = "x" if "x" in dead else dead[0]
        elif "out" not in holder or consumers[holder["out"]] == 0:
            out = "out"
        else:
            out = nid
        inline = graph.registry.get(node.type_id).inline
        if inline == "cat":
            lines += _cat(out, args)
        elif inline:  # a binary operator between the inputs
            lines += _fit(8, f"{out} = ", [f" {inline} ".join(args)], "")
        elif nid in chains:
            lines += _fit(8, f"{out} = {chains[nid][0]}(", args)
        else:
            lines += _fit(8, f"{out} = {access[nid]}(", args)
        var[nid], holder[out] = out, nid
    result = var[report.output_id] if report.output_id else "x"  # type: ignore[index]
    lines.append(f"        return {result}")
    return lines


def _cat(out: str, args: list[str]) -> list[str]:
    one = f"        {out} = torch.cat([{', '.join(args)}], dim=1)"
    if len(one) <= WIDTH:
        return [one]
    inner = f"            [{', '.join(args)}], dim=1"
    if len(inner) <= WIDTH:
        return [f"        {out} = torch.cat(", inner, "        )"]
    listed = f"            [{', '.join(args)}],"
    if len(listed) <= WIDTH:
        return [f"        {out} = torch.cat(", listed, "            dim=1,", "        )"]
    return [
        f"        {out} = torch.cat(",
        "            [",
        *[f"                {a}," for a in args],
        "            ],",
        "            dim=1,",
        "        )",
    ]
