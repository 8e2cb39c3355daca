"""Signal propagation at initialisation: how the spread of activations and gradients changes
with depth under each initialiser (the course's variance argument: He keeps a ReLU network's
variance, LeCun and PyTorch's default shrink it layer after layer, too large a scale blows
it up).

One batch of unit-variance noise goes forward through the freshly initialised network; the
output gets a unit-variance gradient and it goes back. At every layer with weights (conv,
linear, a composite block) the standard deviation of its output and of the gradient that
reaches that output are recorded, in execution order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from app.core.compiler import compile_graph, node_modules
from app.core.graph import Graph
from app.core.shapes import check
from app.core.training.config import TrainConfig
from app.core.training.init import initialise


class SignalError(ValueError):
    """The network cannot be measured (errors in the graph, an input that is not a tensor of
    numbers); the message says why."""


@dataclass(frozen=True)
class LayerSignal:
    node_id: str
    name: str  # module name (path or id)
    block: str  # block type
    depth: int  # 1-based position among the measured layers
    act_std: float
    grad_std: float


@dataclass(frozen=True)
class SignalReport:
    init: str
    layers: tuple[LayerSignal, ...]

    def act_ratio(self) -> float:
        """The last measured layer's activation spread over the first's."""
        return self.layers[-1].act_std / self.layers[0].act_std

    def grad_ratio(self) -> float:
        """The first layer's gradient spread over the last's (how much backward changes it)."""
        return self.layers[0].grad_std / self.layers[-1].grad_std

    def worst_act_drift(self) -> float:
        """The largest relative distance of a layer's activation spread from the first's."""
        first = self.layers[0].act_std
        return max(abs(layer.act_std / first - 1) for layer in self.layers)


def signal_propagation(
    graph: Graph,
    init: str,
    *,
    batch: int = 32,
    seed: int = 0,
    init_mode: str = "fan_in",
    draws: int = 1,
) -> SignalReport:
    """Measure ``graph`` freshly initialised with ``init`` (an initialiser's name).
    ``draws``: average the variances over that many independent draws of the weights (the
    course's argument is about that average; one finite-width network wanders around it,
    more the narrower it is)."""
    runs = [_measure(graph, init, batch, seed + 1000 * i, init_mode) for i in range(draws)]
    layers = []
    for parts in zip(*runs, strict=True):
        first = parts[0]
        act = (sum(p.act_std**2 for p in parts) / draws) ** 0.5
        grad = (sum(p.grad_std**2 for p in parts) / draws) ** 0.5
        layers.append(LayerSignal(first.node_id, first.name, first.block, first.depth, act, grad))
    return SignalReport(init, tuple(layers))


def _measure(
    graph: Graph, init: str, batch: int, seed: int, init_mode: str
) -> tuple[LayerSignal, ...]:
    report = check(graph)
    if not report.ok:
        raise SignalError(
            "the network has errors: " + "; ".join(p.message for p in report.errors[:3])
        )
    shape = report.nodes[report.input_id].shape  # type: ignore[index]
    config = TrainConfig.from_dict({"init": init, "init_mode": init_mode, "seed": seed})
    torch.manual_seed(seed)
    model = compile_graph(graph, report)
    initialise(model, config)
    model.train()
    names = graph.module_names()
    weighted = [n for n, info in report.nodes.items() if info.params]
    modules = node_modules(model)
    outputs: dict[str, torch.Tensor] = {}

    def keep(nid: str):
        def hook(_module, _inputs, output):
            if output.requires_grad:
                output.retain_grad()
            outputs[nid] = output

        return hook

    handles = [modules[n].register_forward_hook(keep(n)) for n in weighted if n in modules]
    try:
        generator = torch.Generator().manual_seed(seed + 7)
        x = torch.randn((batch, *shape), generator=generator)  # type: ignore[misc]
        out = model(x)
        out.backward(torch.randn(out.shape, generator=generator))
    finally:
        for h in handles:
            h.remove()
    layers = []
    order = [n for n in graph.topological_order() if n in outputs]
    for depth, nid in enumerate(order, start=1):
        act = outputs[nid]
        grad = act.grad
        layers.append(
            LayerSignal(
                nid,
                names[nid],
                graph.node(nid).type_id,
                depth,
                float(act.detach().float().std()),
                float(grad.float().std()) if grad is not None else float("nan"),
            )
        )
    if not layers:
        raise SignalError("the network has no layer with weights to measure")
    return tuple(layers)


def compare(graph: Graph, inits: Sequence[str], **options) -> list[SignalReport]:
    """:func:`signal_propagation` for each initialiser, with the same input and seed."""
    return [signal_propagation(graph, init, **options) for init in inits]


def to_csv(reports: Sequence[SignalReport]) -> str:
    lines = ["init,depth,node,module,block,activation_std,gradient_std"]
    for r in reports:
        for layer in r.layers:
            lines.append(
                f"{r.init},{layer.depth},{layer.node_id},{layer.name},{layer.block},"
                f"{layer.act_std:.6g},{layer.grad_std:.6g}"
            )
    return "\n".join(lines) + "\n"


def summary(reports: Sequence[SignalReport]) -> str:
    """One line per initialiser: how the spreads change from the first layer to the last."""
    lines = []
    for r in reports:
        lines.append(
            f"{r.init:<15} activations ×{r.act_ratio():.3g} from layer 1 to {len(r.layers)} "
            f"(largest drift {r.worst_act_drift():.0%}); gradients ×{r.grad_ratio():.3g} "
            f"from layer {len(r.layers)} back to 1"
        )
    return "\n".join(lines)
