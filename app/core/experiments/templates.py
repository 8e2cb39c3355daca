"""The course's experiments as templates: each builds the variants of one claim from the open
network and runs them as a sweep over a ``variant`` dimension, repeated over seeds, so the
comparison says whether the difference is larger than the seed spread.

- ``batch_norm``: without and with a BatchNorm after every convolution (BN speeds training);
- ``dropout``: without and with dropout p=0.5 before every linear layer (less overfitting);
- ``augmentation``: none, and random crops with padding 4 plus horizontal flips;
- ``optimizer``: SGD with momentum, Adam and AdamW, each at its usual learning rate;
- ``schedule``: constant, cosine, and cosine with warm restarts (SGDR, three cycles);
- ``width``: every hidden layer's width ×¼ to ×4 (the model-size axis of double descent).

A variant changes a copy: the open document is never edited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.core.experiments.space import SweepError, Variant
from app.core.experiments.sweep import SweepSpec
from app.core.graph import Graph
from app.core.serialization import Project
from app.core.training.config import TrainConfig

__all__ = ["TEMPLATES", "Template", "template"]


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    claim: str  # what the course says, which the experiment tests
    variants: Mapping[str, Variant]
    needs: Callable[[Graph], str | None] = lambda graph: None  # why it does not apply

    def spec(self, seeds: int = 3, metric: str = "best_val_acc", name: str = "") -> SweepSpec:
        return SweepSpec(
            (f"variant={','.join(self.variants)}",),
            "grid",
            seeds=seeds,
            metric=metric,
            name=name,
            template=self.name,
        )

    def problem(self, graph: Graph) -> str | None:
        return self.needs(graph)


# --------------------------------------------------------------- graph edits
def _edit(change: Callable[[Graph], None]) -> Variant:
    def variant(project: Project, config: TrainConfig) -> tuple[Project, TrainConfig]:
        graph = project.graph.copy()
        change(graph)
        return Project(graph, project.name, dict(project.training), dict(project.view)), config

    return variant


def _settings(**changes) -> Variant:
    def variant(project: Project, config: TrainConfig) -> tuple[Project, TrainConfig]:
        return project, config.replace(**changes)

    return variant


def _of_type(graph: Graph, *types: str) -> list[str]:
    return [nid for nid, n in graph.nodes.items() if n.type_id in types]


def _bypass(graph: Graph, node_id: str) -> None:
    """Remove a one-input block, connecting its input to every block it fed."""
    (source,) = graph.inputs_of(node_id)
    outs = graph.out_edges(node_id)
    graph.remove_node(node_id)
    for edge in outs:
        if source is not None:
            graph.connect(source, edge.dst, edge.port)


def _insert_after(graph: Graph, node_id: str, type_id: str, params: dict | None = None) -> str:
    x, y = graph.node(node_id).position
    new = graph.add_node(type_id, params or {}, position=(x + 40.0, y + 40.0)).id
    for edge in graph.out_edges(node_id):
        graph.disconnect(edge)
        graph.connect(new, edge.dst, edge.port)
    graph.connect(node_id, new, 0)
    return new


def _insert_before(graph: Graph, node_id: str, type_id: str, params: dict | None = None) -> None:
    (source,) = graph.inputs_of(node_id)[:1]
    if source is None:
        return
    x, y = graph.node(node_id).position
    new = graph.add_node(type_id, params or {}, position=(x - 40.0, y - 40.0)).id
    graph.disconnect(next(e for e in graph.out_edges(source) if e.dst == node_id and e.port == 0))
    graph.connect(source, new, 0)
    graph.connect(new, node_id, 0)


def _without(*types: str) -> Callable[[Graph], None]:
    def change(graph: Graph) -> None:
        for nid in _of_type(graph, *types):
            _bypass(graph, nid)

    return change


def _with_bn(graph: Graph) -> None:
    for nid in _of_type(graph, "conv2d"):
        feeds = [graph.node(e.dst).type_id for e in graph.out_edges(nid)]
        if "batchnorm2d" not in feeds:
            _insert_after(graph, nid, "batchnorm2d")


def _with_dropout(graph: Graph) -> None:
    existing = _of_type(graph, "dropout")
    for nid in existing:
        graph.set_params(nid, {"p": 0.5})
    if existing:
        return
    for nid in _of_type(graph, "linear"):
        _insert_before(graph, nid, "dropout", {"p": 0.5})


def _classifiers(graph: Graph) -> set[str]:
    """Linear layers with no conv or linear layer after them (their width is the classes)."""
    weighted = set(_of_type(graph, "conv2d", "linear"))
    return {nid for nid in _of_type(graph, "linear") if not graph.downstream(nid) & weighted}


def _width(factor: float) -> Callable[[Graph], None]:
    def change(graph: Graph) -> None:
        last = _classifiers(graph)
        for nid in _of_type(graph, "conv2d", "linear"):
            if nid in last:
                continue
            node = graph.node(nid)
            key = "out_channels" if node.type_id == "conv2d" else "out_features"
            if node.type_id == "conv2d" and node.params.get("groups", 1) != 1:
                continue  # a grouped convolution's width is tied to its input's
            graph.set_params(nid, {key: max(1, round(node.params[key] * factor))})

    return change


def _needs(*types: str) -> Callable[[Graph], str | None]:
    def check(graph: Graph) -> str | None:
        if _of_type(graph, *types):
            return None
        return f"this experiment changes {' or '.join(types)} blocks, and the network has none"

    return check


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "batch_norm",
            "Batch normalisation vs none",
            "BatchNorm after each convolution lets the network train faster and higher.",
            {"no_bn": _edit(_without("batchnorm2d")), "bn": _edit(_with_bn)},
            _needs("conv2d"),
        ),
        Template(
            "dropout",
            "Dropout vs none",
            "Dropout before the fully connected layers reduces overfitting.",
            {
                "no_dropout": _edit(_without("dropout", "dropout2d")),
                "dropout": _edit(_with_dropout),
            },
            _needs("linear"),
        ),
        Template(
            "augmentation",
            "Data augmentation vs none",
            "Random crops and flips reduce overfitting.",
            {
                "none": _settings(crop_padding=0, hflip=False, color_jitter=0.0, cutout=0),
                "crop_flip": _settings(crop_padding=4, hflip=True),
            },
        ),
        Template(
            "optimizer",
            "SGD vs Adam vs AdamW",
            "Adaptive methods train faster; SGD with momentum often generalises as well or better.",
            {
                "sgd": _settings(optimizer="sgd", lr=0.05, momentum=0.9),
                "adam": _settings(optimizer="adam", lr=1e-3, weight_decay=0.0),
                "adamw": _settings(optimizer="adamw", lr=1e-3, weight_decay=0.05),
            },
        ),
        Template(
            "schedule",
            "Constant vs cosine vs warm restarts",
            "Decaying the learning rate ends higher; warm restarts explore and end as high.",
            {
                "constant": _settings(schedule="constant"),
                "cosine": _settings(schedule="cosine"),
                "warm_restarts": lambda project, config: (
                    project,
                    config.replace(
                        schedule="cosine_restarts",
                        restart_period=max(1, config.epochs // 3),
                        restart_mult=1,
                    ),
                ),
            },
        ),
        Template(
            "width",
            "Width sweep (double descent)",
            "Test error first falls, rises near the interpolation threshold, then falls again "
            "as the network grows wider.",
            {f"x{f:g}": _edit(_width(f)) for f in (0.25, 0.5, 1.0, 2.0, 4.0)},
            _needs("conv2d", "linear"),
        ),
    )
}


def template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise SweepError(
            f"unknown experiment template {name!r} (known: {', '.join(TEMPLATES)})"
        ) from None
