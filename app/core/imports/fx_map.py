"""Trace an ``nn.Module`` with ``torch.fx`` and map it onto catalogue blocks.

Leaf modules (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.ReLU``…) and the functions and methods
between them (``torch.flatten``, ``x.view(x.size(0), -1)``, ``F.relu``, ``+``, ``torch.cat``,
``x.mean([2, 3])``, ``*``…) become nodes; each module node keeps its module path, so the
compiled graph's ``state_dict`` keys are the source model's and its weights load by name.
Everything is checked before a graph is returned: a module or call no block computes exactly is
listed with the reason, and nothing is half-imported. Each mapped call is verified against
the traced shapes, and :func:`import_model` compares the compiled graph's logits with the
source model's.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

from app.core.compiler import compile_graph
from app.core.graph import Graph
from app.core.imports.composites import composite_spec, is_candidate
from app.core.imports.errors import ImportFailure
from app.core.imports.opaque import opaque_spec
from app.core.layout import layered_layout
from app.core.names import free_id, module_path_problem, node_id_problem
from app.core.shapes import check

Spec = tuple[str, dict[str, Any]]  # a block type and its parameters


class Unsupported(Exception):
    """One fx node no block computes exactly (the reason is the message)."""


@dataclass
class ImportResult:
    graph: Graph
    #: the weights under the compiled graph's keys (equal to the source's), sharing the
    #: source model's memory
    state: dict[str, torch.Tensor]
    #: nodes mapped onto catalogue blocks (all but Input, Output and the opaque ones)
    native: int
    #: source ``state_dict`` entries the graph does not hold (modules never called)
    left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the largest |difference| between the source's and the graph's logits (eval mode)
    max_abs_diff: float = math.nan
    #: modules kept whole: class name → how many
    opaque: dict[str, int] = field(default_factory=dict)


def _pair(value: Any, what: str) -> int:
    """An int, or a tuple of equal ints (our blocks are square in stride and padding)."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        raise Unsupported(f"{what} {values} differs between height and width")
    return int(values[0])


def _conv(m: nn.Conv2d) -> Spec:
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r} (only zeros)")
    padding: Any = m.padding if isinstance(m.padding, str) else _pair(m.padding, "padding")
    if padding == "valid":
        padding = 0
    return "conv2d", {
        "out_channels": m.out_channels,
        "kernel_h": m.kernel_size[0],
        "kernel_w": m.kernel_size[1],
        "stride": _pair(m.stride, "stride"),
        "padding": padding,
        "dilation": _pair(m.dilation, "dilation"),
        "groups": m.groups,
        "bias": m.bias is not None,
    }


def _batchnorm(type_id: str) -> Callable[[nn.Module], Spec]:
    def spec(m: nn.Module) -> Spec:
        assert isinstance(m, nn.modules.batchnorm._BatchNorm)
        if not (m.affine and m.track_running_stats) or m.momentum is None:
            raise Unsupported("without affine weights, running statistics or a momentum")
        return type_id, {"eps": float(m.eps), "momentum": float(m.momentum)}

    return spec


def _pool(type_id: str) -> Callable[[nn.Module], Spec]:
    def spec(m: nn.Module) -> Spec:
        kernel = _pair(m.kernel_size, "kernel_size")  # type: ignore[attr-defined]
        stride = m.stride if m.stride is not None else kernel  # type: ignore[attr-defined]
        if isinstance(m, nn.MaxPool2d) and (_pair(m.dilation, "dilation") != 1 or m.return_indices):
            raise Unsupported("dilation or return_indices")
        if isinstance(m, nn.AvgPool2d) and (
            not m.count_include_pad or m.divisor_override is not None
        ):
            raise Unsupported("count_include_pad=False or divisor_override")
        return type_id, _pool_params(kernel, stride, m.padding, m.ceil_mode)  # type: ignore[attr-defined]

    return spec


def _pool_params(kernel: Any, stride: Any, padding: Any, ceil_mode: bool) -> dict[str, Any]:
    kernel = _pair(kernel, "kernel_size")
    stride = _pair(stride, "stride") if stride not in (None, (), []) else kernel
    return {
        "kernel_size": kernel,
        "stride": 0 if stride == kernel else stride,
        "padding": _pair(padding, "padding"),
        "ceil_mode": bool(ceil_mode),
    }


def _adaptive(m: nn.AdaptiveAvgPool2d) -> Spec:
    return _adaptive_size(m.output_size)


def _adaptive_size(size: Any) -> Spec:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h is None or w is None:
        raise Unsupported("an output size of None (keep the input's)")
    return "adaptive_avgpool2d", {"output_h": int(h), "output_w": int(w)}


def _flatten(m: nn.Flatten) -> Spec:
    if m.start_dim != 1 or m.end_dim != -1:
        raise Unsupported(f"start_dim={m.start_dim}, end_dim={m.end_dim} (only 1 and -1)")
    return "flatten", {}


def _softmax(dim: Any) -> Spec:
    if dim not in (1, -1):
        raise Unsupported(f"softmax over dim {dim} (only the class dimension, 1)")
    return "softmax", {}


#: leaf module class → its block (exact classes: a subclass may compute something else)
MODULES: dict[type, Callable[[Any], Spec]] = {
    nn.Conv2d: _conv,
    nn.Linear: lambda m: ("linear", {"out_features": m.out_features, "bias": m.bias is not None}),
    nn.BatchNorm2d: _batchnorm("batchnorm2d"),
    nn.BatchNorm1d: _batchnorm("batchnorm1d"),
    nn.LocalResponseNorm: lambda m: (
        "local_response_norm",
        {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": float(m.k)},
    ),
    nn.ReLU: lambda m: ("relu", {}),
    nn.ReLU6: lambda m: ("relu6", {}),
    nn.LeakyReLU: lambda m: ("leaky_relu", {"negative_slope": m.negative_slope}),
    nn.ELU: lambda m: ("elu", {"alpha": m.alpha}),
    nn.GELU: lambda m: ("gelu", {"approximate": m.approximate}),
    nn.SiLU: lambda m: ("silu", {}),
    nn.Hardswish: lambda m: ("hardswish", {}),
    nn.Hardsigmoid: lambda m: ("hardsigmoid", {}),
    nn.Tanh: lambda m: ("tanh", {}),
    nn.Sigmoid: lambda m: ("sigmoid", {}),
    nn.Softmax: lambda m: _softmax(m.dim),
    nn.MaxPool2d: _pool("maxpool2d"),
    nn.AvgPool2d: _pool("avgpool2d"),
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.Flatten: _flatten,
    nn.Dropout: lambda m: ("dropout", {"p": m.p}),
    nn.Dropout2d: lambda m: ("dropout2d", {"p": m.p}),
}

#: modules that compute nothing: their output is their input
PASS_THROUGH = (nn.Identity,)

#: element-wise functions and methods of one tensor → their block
ACTIVATIONS: dict[Any, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    "relu": "relu",
    F.relu6: "relu6",
    F.hardswish: "hardswish",
    F.hardsigmoid: "hardsigmoid",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    "sigmoid": "sigmoid",
    torch.tanh: "tanh",
    F.tanh: "tanh",
    "tanh": "tanh",
    F.silu: "silu",
    F.gelu: "gelu",
}
ADDS = {operator.add, operator.iadd, torch.add, "add", "add_"}
MULS = {operator.mul, operator.imul, torch.mul, "mul", "mul_"}
CATS = {torch.cat, torch.concat, torch.concatenate}
RESHAPES = {torch.flatten, "flatten", "view", "reshape", torch.reshape}
MEANS = {torch.mean, "mean"}
#: calls that produce no tensor (sizes for a reshape): dropped, their users are checked
SIZES = {"size", getattr, operator.getitem}


def _global_pool(m: nn.Module) -> bool:
    """``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())``: the GlobalAvgPool block as
    NetBuilder exports it."""
    return (
        type(m) is nn.Sequential
        and len(m) == 2
        and type(m[0]) is nn.AdaptiveAvgPool2d
        and m[0].output_size in (1, (1, 1))
        and type(m[1]) is nn.Flatten
        and (m[1].start_dim, m[1].end_dim) == (1, -1)
    )


class _Tracer(fx.Tracer):
    """torch.fx's tracer, keeping an exported GlobalAvgPool whole (one node, as drawn) and
    each module that may be one composite block (``imports.composites``), unless it is in
    ``through`` (shown not to be one: traced into its layers)."""

    def __init__(self, through: set[str], keep: set[str] | None = None) -> None:
        super().__init__()
        self.through = through
        self.keep = keep or set()  # modules kept whole as opaque nodes

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if qualname in self.keep or _global_pool(m):
            return True
        if qualname not in self.through and is_candidate(m):
            return True
        return super().is_leaf_module(m, qualname)


#: the largest height and width at which the traced shapes are probed
PROBE = 64


@dataclass
class Traced:
    """A model and its fx graph (no ``GraphModule`` is built: the graph's targets are the
    model's own module paths)."""

    root: nn.Module
    graph: fx.Graph

    def get_submodule(self, target: str) -> nn.Module:
        return self.root.get_submodule(target)


class _Shapes(fx.Interpreter):
    """Runs the graph on the model, recording each tensor's shape in ``node.meta["shape"]``."""

    def __init__(self, root: nn.Module, graph: fx.Graph) -> None:
        super().__init__(root, graph=graph)

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["shape"] = tuple(result.shape)
        return result


def trace(
    model: nn.Module, input_shape: tuple[int, ...], keep: dict[str, str] | None = None
) -> Traced:
    """``model`` traced by ``torch.fx`` in eval mode, with every node's shape for a probe
    input (``input_shape``, or smaller: see below). A module that computes exactly what a
    composite block computes is one node, its block in ``node.meta["composite"]``. ``keep``:
    modules to keep whole as opaque nodes (path → why), in ``node.meta["opaque"]``; those
    whose arguments cannot be recovered or whose rebuilt module differs are left out of
    ``keep`` (traced through)."""
    through: set[str] = set()
    keep = keep if keep is not None else {}
    proven: dict = {}  # composites compared so far (composite_spec)
    while True:
        gm = _trace(model, input_shape, through, set(keep))
        rejected = set()
        dropped = set()
        for n in gm.graph.nodes:
            if n.op != "call_module" or str(n.target) in through:
                continue
            module = gm.get_submodule(str(n.target))
            shape, out = _sole_input_shape(n), _shape(n)
            if str(n.target) in keep:
                spec = None
                if shape is not None and out:
                    spec = opaque_spec(module, shape, out[1:], keep[str(n.target)])
                if spec is None:
                    dropped.add(str(n.target))
                n.meta["opaque"] = spec
                continue
            if not is_candidate(module):
                continue
            spec = composite_spec(module, shape, proven) if shape is not None else None
            if spec is None:
                rejected.add(str(n.target))
            n.meta["composite"] = spec
        for path in dropped:
            del keep[path]
        if not rejected and not dropped:
            return gm
        through |= rejected  # trace into them: their layers map one by one


def _sole_input_shape(n: fx.Node) -> tuple[int, ...] | None:
    """The (C, H, W…) shape of a module call's one tensor input; None for another call."""
    shapes = [_shape(a) for a in n.args]
    if len(shapes) != 1 or shapes[0] is None or n.kwargs:
        return None
    return shapes[0][1:]


def _trace(
    model: nn.Module, input_shape: tuple[int, ...], through: set[str], keep: set[str]
) -> Traced:
    was_training = model.training
    model.eval()
    try:
        try:
            tracer = _Tracer(through, keep)
            gm = Traced(model, tracer.trace(model))
        except Exception as exc:
            raise ImportFailure(_trace_error(model, exc)) from None
        # the shapes only tell tensors from sizes and check reshapes and means, which a
        # small image shows as well: probe at 64×64 at most (ResNet-152's forward at 224×224
        # was half the import), at the full size when the model needs it
        probe = (*input_shape[:-2], *(min(d, PROBE) for d in input_shape[-2:]))
        try:
            with torch.no_grad():
                try:
                    _Shapes(model, gm.graph).run(torch.zeros(1, *probe))
                except Exception:
                    if probe == tuple(input_shape):
                        raise
                    _Shapes(model, gm.graph).run(torch.zeros(1, *input_shape))
        except Exception as exc:
            shape = "×".join(map(str, input_shape))
            raise ImportFailure(
                f"the model does not run on a {shape} input ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300]}): give its input shape (--input C,H,W)"
            ) from None
    finally:
        model.train(was_training)
    return gm


def _trace_error(model: nn.Module, exc: Exception) -> str:
    """Where tracing failed, in the user's code (not torch's), and what to do."""
    import traceback

    torch_dir = str(Path(torch.__file__).parent)
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith(torch_dir) and not f.filename.startswith(str(_HERE))
    ]
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    line = f" ({frames[-1].line.strip()})" if frames and frames[-1].line else ""
    # the innermost module whose own code was running: a frame whose ``self`` is one of them
    paths = {id(m): name for name, m in model.named_modules()}
    inside = ""
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if id(owner) in paths and paths[id(owner)]:
            inside = f" in {paths[id(owner)]} ({type(owner).__name__})"
        tb = tb.tb_next
    return (
        f"{where}torch.fx cannot trace {type(model).__name__}{inside}{line}: "
        f"{str(exc).splitlines()[0][:300]}. Python control flow that depends on the data "
        "(an if or loop over a tensor's values) cannot be traced: make it depend on sizes "
        "only, or write it without the branch (only torch and torchvision modules are kept "
        "whole, as opaque nodes, and only when they can be traced)"
    )


_HERE = Path(__file__).resolve().parents[2]  # app/: our frames are not the user's


def _shape(n: Any) -> tuple[int, ...] | None:
    return n.meta.get("shape") if isinstance(n, fx.Node) else None


def _map_call(n: fx.Node, gm: Traced) -> tuple[Spec | None, list[fx.Node]]:
    """(block, tensor inputs) for a call; (None, [input]) for a call that passes its input
    through. Raises Unsupported with the reason."""
    target = n.target if n.op != "call_method" else str(n.target)
    args = list(n.args)
    tensors = [a for a in args if isinstance(a, fx.Node) and _shape(a) is not None]
    out = _shape(n)
    if n.op == "call_module":
        module = gm.get_submodule(str(n.target))
        if n.meta.get("composite"):
            return n.meta["composite"], tensors
        if n.meta.get("opaque"):
            return n.meta["opaque"], tensors
        if isinstance(module, PASS_THROUGH):
            return None, tensors[:1]
        if _global_pool(module):
            return ("global_avgpool", {}), tensors[:1]
        mapper = MODULES.get(type(module))
        if mapper is None:
            raise Unsupported(f"{type(module).__module__}.{type(module).__qualname__}")
        if n.kwargs or len(tensors) != 1:
            raise Unsupported("a module called with more than one input")
        return mapper(module), tensors
    if target in ACTIVATIONS:
        kw = dict(n.kwargs)
        if target is F.gelu:
            return ("gelu", {"approximate": kw.get("approximate", "none")}), tensors[:1]
        return (ACTIVATIONS[target], {}), tensors[:1]  # type: ignore[index]
    if target in (F.softmax, torch.softmax, "softmax"):
        dim = n.kwargs.get("dim", args[1] if len(args) > 1 else None)
        return _softmax(dim), tensors[:1]
    if target in ADDS or target in MULS:
        if len(tensors) != 2 or len(args) != 2 or n.kwargs.get("alpha", 1) != 1:
            raise Unsupported("an operation with a number, not between two tensors")
        return ("add" if target in ADDS else "multiply", {}), tensors  # type: ignore[return-value]
    if target in CATS:
        dim = n.kwargs.get("dim", args[1] if len(args) > 1 else 0)
        parts = list(args[0]) if isinstance(args[0], list | tuple) else []
        if dim not in (1, -3) or not all(isinstance(p, fx.Node) for p in parts):
            raise Unsupported(f"concatenation along dim {dim} (only channels, 1)")
        if len(parts) == 1:  # DenseNet's first layer: a concatenation of one tensor
            return None, parts
        return ("concat", {"inputs": len(parts)}), parts
    if target in RESHAPES:
        src = _shape(args[0]) if args else None
        if src is None or out is None or out != (src[0], math.prod(src[1:])):
            raise Unsupported(f"a reshape to {out} (only flattening each sample)")
        return ("flatten", {}), tensors[:1]
    if target in MEANS:
        dims = n.kwargs.get("dim", args[1] if len(args) > 1 else None)
        keep = n.kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        src = _shape(args[0]) if args else None
        spatial = {2, 3, -1, -2}
        if src is None or len(src) != 4 or not isinstance(dims, list | tuple):
            raise Unsupported("a mean over other dimensions than height and width")
        if len(dims) != 2 or not set(dims) <= spatial or len({d % 4 for d in dims}) != 2:
            raise Unsupported(f"a mean over dims {dims} (only height and width)")
        if keep:
            return ("adaptive_avgpool2d", {"output_h": 1, "output_w": 1}), tensors[:1]
        return ("global_avgpool", {}), tensors[:1]
    if target is F.adaptive_avg_pool2d:
        size = n.kwargs.get("output_size", args[1] if len(args) > 1 else None)
        return _adaptive_size(size), tensors[:1]
    if target in (F.max_pool2d, F.avg_pool2d):
        return _functional_pool(n, target is F.max_pool2d), tensors[:1]
    if target is F.dropout:
        p = n.kwargs.get("p", args[1] if len(args) > 1 else 0.5)
        return ("dropout", {"p": float(p)}), tensors[:1]
    if target in ("contiguous",):
        return None, tensors[:1]
    name = getattr(target, "__name__", str(target))
    kind = {"call_function": "the function ", "call_method": "the method ."}.get(n.op, n.op)
    raise Unsupported(f"{kind}{name}")


def _functional_pool(n: fx.Node, is_max: bool) -> Spec:
    names = ["input", "kernel_size", "stride", "padding"]
    names += ["dilation", "ceil_mode", "return_indices"] if is_max else ["ceil_mode"]
    values = dict(zip(names, n.args, strict=False)) | dict(n.kwargs)
    if is_max and (_pair(values.get("dilation", 1), "dilation") != 1):
        raise Unsupported("a dilated max-pool")
    params = _pool_params(
        values["kernel_size"], values.get("stride"), values.get("padding", 0),
        values.get("ceil_mode", False),
    )  # fmt: skip
    return ("maxpool2d" if is_max else "avgpool2d"), params


class _Unmapped(ImportFailure):
    """Parts no block computes (``nodes``: each fx node and why)."""

    def __init__(self, message: str, nodes: list[tuple[fx.Node, str]]) -> None:
        super().__init__(message)
        self.nodes = nodes


def _owners(n: fx.Node) -> list[str]:
    """The modules around an fx node, innermost first (the node's own, for a module call);
    not the model itself."""
    stack = list(n.meta.get("nn_module_stack") or {})
    if n.op == "call_module":
        stack.append(str(n.target))
    out = []
    for path in reversed(stack):
        parts = str(path).split(".")
        out += [".".join(parts[:k]) for k in range(len(parts), 0, -1)]
    return [p for p in dict.fromkeys(out) if p]


def build_graph(
    gm: Traced, input_shape: tuple[int, ...]
) -> tuple[Graph, dict[str, str], list[str]]:
    """The graph of ``gm`` (traced with shapes); returns it, fx node name → graph node id of
    each module node, and notes. Raises ImportFailure listing every unsupported call."""
    graph = Graph()
    value: dict[str, str] = {}  # fx node name → graph node giving its value
    problems: list[str] = []
    unmapped: list[tuple[fx.Node, str]] = []  # the fx nodes no block computes, and why
    module_nodes: dict[str, str] = {}
    called: dict[str, str] = {}
    notes: list[str] = []
    targets = [str(n.target) for n in gm.graph.nodes if n.op == "call_module"]
    taken: set[str] = {t.split(".")[0] for t in targets} | set(targets)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ImportFailure(f"the model takes {len(placeholders)} inputs; only one is supported")
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            if len(input_shape) != 3:
                raise ImportFailure(f"the input is {input_shape}: only images (C×H×W) for now")
            c, h, w = input_shape
            params = {"layout": "image", "channels": c, "height": h, "width": w}
            value[n.name] = graph.add_node("input", params, node_id="input_1").id
            continue
        if n.op == "output":
            result = n.args[0]
            if not isinstance(result, fx.Node):
                problems.append("the model's output is not one tensor")
                continue
            if result.name not in value:
                continue  # the call that computes it is listed
            shape = _shape(result)
            classes = {"classes": shape[1]} if shape is not None and len(shape) == 2 else {}
            out_id = free_id("output", set(graph.nodes), "out")
            out = graph.add_node("output", classes, node_id=out_id)
            graph.connect(value[result.name], out.id)
            continue
        if n.op == "get_attr":
            problems.append(f"{n.target}: a parameter or buffer used directly in forward()")
            unmapped.append((n, "a parameter or buffer used directly in forward()"))
            continue
        if n.target in SIZES or (n.op == "call_method" and n.target in SIZES):
            continue  # sizes for a reshape: its own mapping checks the result's shape
        try:
            spec, inputs = _map_call(n, gm)
        except Unsupported as exc:
            where = str(n.target) if n.op == "call_module" else n.name
            problems.append(f"{where}: {exc}")
            unmapped.append((n, str(exc)))
            continue
        missing = [i.name for i in inputs if i.name not in value]
        if missing:
            problems.append(f"{n.name}: its input {missing[0]} could not be mapped")
            continue
        if spec is None:  # passes its input through
            value[n.name] = value[inputs[0].name]
            continue
        type_id, params = spec
        path = ""
        if n.op == "call_module":
            path = str(n.target)
            if path in called:
                module = gm.get_submodule(path)
                if next(iter(module.state_dict()), None) is not None:
                    problems.append(f"{path}: called twice (shared weights are not supported)")
                    continue
                path = ""  # a stateless module called again (torchvision's self.relu)
            else:
                called[path] = n.name
            problem = module_path_problem(path) if path else None
            if problem:
                notes.append(f"{problem}: the node keeps no module path")
                path = ""
        wanted = path.replace(".", "_") if path else n.name if n.op == "call_module" else ""
        if path and "." not in path and not node_id_problem(path) and path not in graph.nodes:
            nid, path = path, ""  # a top-level module: its id is its name (as when drawn)
        elif wanted and not node_id_problem(wanted) and wanted not in taken | set(graph.nodes):
            nid = wanted
        else:
            nid = graph.new_id(type_id)
            while nid in taken:
                nid = free_id(nid, set(graph.nodes) | taken, type_id)
        try:
            node = graph.add_node(type_id, params, node_id=nid, path=path)
        except Exception as exc:  # a value outside the block's range
            problems.append(f"{path or n.name}: {exc}")
            continue
        taken.add(node.id)
        for port, src in enumerate(inputs):
            graph.connect(value[src.name], node.id, port)
        value[n.name] = node.id
        if n.op == "call_module" and str(n.target) not in module_nodes:
            module_nodes[str(n.target)] = node.id
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise _Unmapped(
            f"{len(problems)} part(s) of the model map onto no NetBuilder block, and no "
            "module around them could be kept whole as an opaque node (only torch and "
            "torchvision classes whose constructor arguments the module keeps can be):"
            f"\n{shown}{more}",
            unmapped,
        )
    for nid, pos in layered_layout(graph).items():
        graph.move_node(nid, pos)
    return graph, module_nodes, notes


def _measure_opaque(graph: Graph) -> None:
    """Give each opaque node its shapes at the full input size (the trace measured them at
    the probe's): its class is built on the meta device and run on its input's shape, in
    order, so each sees the shape the one before it produced."""
    report = check(graph)
    for nid in report.order:
        node = graph.nodes[nid]
        if node.type_id != "opaque":
            continue
        src = next(s for s in graph.inputs_of(nid) if s is not None)
        shape = report.nodes[src].shape
        if shape is None or tuple(shape) == tuple(node.params["in_shape"]):
            continue
        block = graph.registry.get("opaque")
        with torch.device("meta"):
            module = block.build(node.params, [shape]).eval()
            out = tuple(module(torch.empty(1, *shape)).shape[1:])
        graph.set_params(nid, {"in_shape": list(shape), "out_shape": list(out)})
        report = check(graph)  # the shapes after it changed


def import_model(
    model: nn.Module, input_shape: tuple[int, ...] = (3, 224, 224), *, verify: bool = True
) -> ImportResult:
    """Trace ``model`` and return its graph, weights and how it mapped. ``verify``: compile
    the graph, load the weights strictly by name and compare the logits with the source's."""
    keep: dict[str, str] = {}  # modules to keep whole (opaque nodes), and why
    failed: set[str] = set()  # modules that could not be (arguments lost, or not the same)
    while True:
        asked = set(keep)
        gm = trace(model, input_shape, keep)  # drops from keep what it cannot keep
        failed |= asked - set(keep)
        try:
            graph, module_nodes, notes = build_graph(gm, tuple(input_shape))
            break
        except _Unmapped as exc:
            more: dict[str, str] = {}
            for n, why in exc.nodes:  # the innermost module around it not yet tried
                owner = next((p for p in _owners(n) if p not in keep and p not in failed), None)
                if owner is not None:
                    more.setdefault(owner, why)
            if not more:
                raise ImportFailure(str(exc)) from None
            keep.update(more)
    _measure_opaque(graph)
    report = check(graph)
    if not report.ok:
        lines = "\n".join(f"  - {p.message}" for p in report.errors[:10])
        raise ImportFailure(f"the imported graph does not check:\n{lines}")
    source_state = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    names = graph.module_names()
    carried: set[str] = set()
    for path, nid in module_nodes.items():
        for key, tensor in gm.get_submodule(path).state_dict().items():
            state[f"{names[nid]}.{key}"] = tensor  # detached by state_dict(): the source's memory
            carried.add(f"{path}.{key}")
    left_out = [k for k in source_state if k not in carried]
    opaque = [n.params["target"] for n in graph.nodes.values() if n.type_id == "opaque"]
    kept = {t.rpartition(".")[2]: opaque.count(t) for t in dict.fromkeys(opaque)}
    result = ImportResult(graph, state, len(graph) - 2 - len(opaque), left_out, notes, opaque=kept)
    if verify:
        result.max_abs_diff = compare(model, graph, state, input_shape)
    return result


def compare(
    model: nn.Module, graph: Graph, state: dict[str, torch.Tensor], input_shape: tuple[int, ...]
) -> float:
    """Largest |difference| of the logits of ``model`` and of ``graph`` with ``state``
    (eval mode, float32, two random images; at most 64×64 when both models take that, as
    every model ending in adaptive pooling does: the same operators on fewer pixels)."""
    with torch.device("meta"):  # no memory and no initialisation: the weights are assigned
        compiled = compile_graph(graph)
    compiled.load_state_dict(state, strict=True, assign=True)
    was_training = model.training
    model.eval()
    compiled.eval()

    def difference(shape: tuple[int, ...]) -> float:
        x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            return float((model(x) - compiled(x)).abs().max())

    probe = (*input_shape[:-2], *(min(d, PROBE) for d in input_shape[-2:]))
    try:
        if probe != tuple(input_shape):
            try:
                return difference(probe)
            except Exception:  # the model needs its full size
                pass
        return difference(tuple(input_shape))
    finally:
        model.train(was_training)
