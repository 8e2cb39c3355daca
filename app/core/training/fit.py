"""Whether a dataset fits a network, and the training settings a network starts with.

Torch-free, so the window can check before anything starts: the Training panel offers the
fixes, ``train`` and ``export --format train`` refuse with the reason, and every preset and new
document starts with settings that fit (the built-in shapes at the network's input size,
a run length scaled to the network's cost on a CPU).
"""

from __future__ import annotations

from typing import Any

from app.core.graph import Graph
from app.core.shapes import ShapeReport, check
from app.core.training.options import DATASETS, built_in_dataset
from blocks import shape_text

#: multiply-accumulates one suggested epoch of an ImageNet-sized network may take: about 30 s
#: on 2 CPU cores (VGG-16, 100+50 images: 5.4e12 MACs in 58 s, 93 GMAC/s, 2026-12-01)
EPOCH_BUDGET_MACS = 3e12


def dataset_problem(dataset: str, report: ShapeReport) -> str:
    """Why ``dataset`` cannot train the checked network (empty when it can)."""
    if not report.ok or report.input_id is None:
        return ""  # the shape errors say what is wrong first
    shape = report.nodes[report.input_id].shape or ()
    spec = DATASETS[dataset]
    channels, side = spec.channels, spec.side
    if len(shape) != 3:
        return f"the network takes {shape_text(shape)} inputs, not images (C×H×W)"
    if shape[0] != channels or (side is not None and shape[1:] != (side, side)):
        size = f"{side}×{side}" if side else f"{shape[1]}×{shape[2]}"
        return (
            f"the network's input is {shape_text(shape)} but {dataset} images are {channels}×{size}"
        )
    if spec.source == "built_in" and (shape[1] != shape[2] or shape[1] < 8):
        return f"the built-in shapes are square images of at least 8×8, not {shape_text(shape[1:])}"
    out = report.output_shape or ()
    classes = spec.classes
    if classes is not None and (len(out) != 1 or out[0] < classes):
        outputs = shape_text(out) or "nothing"
        return f"the network outputs {outputs} but {dataset} has {classes} classes"
    return ""


def fitting_dataset(report: ShapeReport) -> str | None:
    """The built-in (offline) dataset that fits the network as it is, if one does."""
    shape = report.nodes[report.input_id].shape if report.ok and report.input_id else None
    spec = built_in_dataset(shape[0]) if shape and len(shape) == 3 else None
    return spec.name if spec and not dataset_problem(spec.name, report) else None


def suggested_training(graph: Graph, report: ShapeReport | None = None) -> dict[str, Any]:
    """Settings that fit ``graph`` and finish on a CPU in about a minute per epoch: the
    built-in dataset at the input's size, fewer images for costlier networks."""
    report = report or check(graph)
    dataset = fitting_dataset(report)
    if dataset is None:
        return {}
    macs = report.total_macs
    if macs < 50e6:  # LeNet, MLPs: the defaults (10,000 images, 10 epochs)
        return {"dataset": dataset}
    if macs < 2e9:  # CIFAR ResNets, VGG, GoogLeNet at 32×32: ~40 s an epoch on 2 cores
        return {"dataset": dataset, "train_size": 500, "val_size": 200, "batch_size": 32,
                "epochs": 3}  # fmt: skip
    # ImageNet networks at 224×224: a smoke run; real training wants a GPU and real images.
    # As many images (up to 100) as fit the budget: VGG-19 takes 20 GMACs a forward pass.
    train = max(16, min(100, int(EPOCH_BUDGET_MACS / epoch_macs_per_image(macs)) // 16 * 16))
    return {"dataset": dataset, "train_size": train, "val_size": max(16, train // 2),
            "batch_size": 16, "epochs": 1}  # fmt: skip


def epoch_macs_per_image(forward_macs: float) -> float:
    """Work of one epoch per training image: forward and backward (about 3 forward passes),
    plus the validation forward pass of half as many images."""
    return 3.5 * forward_macs


def adapt_target(dataset: str, report: ShapeReport) -> tuple[tuple[int, int, int], int | None]:
    """The input shape and class count that fit a network to ``dataset``: the dataset's own
    image size, or the network's where any size will do (the built-in shapes, a folder; 32×32
    when the network does not take images); None classes: known only once loaded."""
    spec = DATASETS[dataset]
    shape = report.nodes[report.input_id].shape if report.input_id else None
    network = tuple(shape[1:]) if shape is not None and len(shape) == 3 else (32, 32)
    side = (spec.side, spec.side) if spec.side else network
    return (spec.channels, *side), spec.classes  # type: ignore[return-value]


def adapt_changes(dataset: str, graph: Graph, report: ShapeReport) -> list[str]:
    """What adapting ``graph`` to ``dataset`` would change (the graph is left as it is); empty
    when it cannot help (a network with no classifier: nothing sets the number of scores)."""
    from app.core.training.adapt import adapt_plan

    return [text for _, _, text in adapt_plan(graph, *adapt_target(dataset, report), report)]


def dataset_fixes(dataset: str, report: ShapeReport, graph: Graph | None = None) -> str:
    """The fixes for :func:`dataset_problem`, as a sentence ending the message. With the
    ``graph``, adapting is offered only where it changes something."""
    fitting = fitting_dataset(report)
    switch = f"switch to the built-in {fitting} (it fits)" if fitting else ""
    adapt = f"adapt the Input and classifier to {dataset}"
    classes = DATASETS[dataset].classes
    if graph is not None and not adapt_changes(dataset, graph, report):
        scores = f"{classes} " if classes else ""
        adapt = (
            f"give the network a classifier that outputs {scores}class scores (for images: "
            "global average pooling or Flatten, then a Linear layer)"
        )
    return f"{switch} or {adapt}" if switch else adapt
