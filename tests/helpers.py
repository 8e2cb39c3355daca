"""Small graph builders shared by tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from app.core.graph import Graph


def chain(*steps: tuple[str, dict[str, Any]], graph: Graph | None = None) -> Graph:
    """Build input → step → step … with each node connected to the previous one."""
    g = graph if graph is not None else Graph()  # an empty graph is falsy
    prev = None
    for type_id, params in steps:
        node = g.add_node(type_id, params)
        if prev is not None:
            g.connect(prev, node.id)
        prev = node.id
    return g


def image(c: int = 3, h: int = 32, w: int = 32) -> tuple[str, dict[str, Any]]:
    return ("input", {"channels": c, "height": h, "width": w})


#: a small, fast training run on the built-in data (2 epochs of 16 steps)
SMALL_TRAINING: dict[str, Any] = {
    "dataset": "shapes_gray",
    "train_size": 512,
    "val_size": 128,
    "batch_size": 32,
    "epochs": 2,
    "report_every": 4,
    "optimizer": "sgd",
    "lr": 0.05,
}


def relu_net() -> Graph:
    """A ReLU network without normalisation: a learning rate of 100 makes its loss NaN."""
    return chain(
        image(1, 28, 28),
        ("conv2d", {"out_channels": 8}),
        ("relu", {}),
        ("flatten", {}),
        ("linear", {"out_features": 64}),
        ("relu", {}),
        ("linear", {"out_features": 10}),
    )


def dropout_net() -> Graph:
    """Conv, BatchNorm and dropout: a network whose training draws from torch's global RNG."""
    return chain(
        image(1, 28, 28),
        ("conv2d", {"out_channels": 8}),
        ("batchnorm2d", {}),
        ("relu", {}),
        ("maxpool2d", {}),
        ("flatten", {}),
        ("dropout", {"p": 0.3}),
        ("linear", {"out_features": 10}),
    )


@contextlib.contextmanager
def extra_optimizer() -> Iterator[str]:
    """Register a dummy optimizer (averaged SGD) for the length of a test: one registry
    entry, which every reader of the registry must pick up."""
    from app.core.training.options import OPTIMIZERS, OptimizerSpec

    spec = OptimizerSpec(
        "asgd_test",
        "averaged SGD (a test's extra optimizer)",
        "torch.optim.ASGD",
        lambda c: {"t0": 10.0, "weight_decay": c.weight_decay},
    )
    OPTIMIZERS.register(spec)
    try:
        yield spec.name
    finally:
        OPTIMIZERS.unregister(spec.name)
