"""Fine-tuning plans, torch-free (the window uses them): which layers to freeze, which
learning-rate multiplier the rest gets, and the whole set-up of a network for a folder of
images starting from pretrained weights.

A network is cut into **parts** in the order they run: each stage (the nodes sharing the
first part of a module path, ``layer3``) is one part, and so is each other layer with
weights; the classifier and what follows it are the **head**. "Train the last N parts"
freezes everything before them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.graph import Graph, Learning, stage_of
from app.core.shapes import ShapeReport, check
from app.core.training.adapt import adapt_to_dataset, classifier_node
from app.core.weight_sets import weight_set


@dataclass(frozen=True)
class Part:
    name: str  # the stage, or the node's module name
    nodes: tuple[str, ...]
    params: int


def parts(graph: Graph, report: ShapeReport | None = None) -> list[Part]:
    """The network's parts in execution order; the last is the head (the classifier and the
    layers after it). Layers without weights join the part before them."""
    report = report or check(graph)
    order = graph.topological_order()
    head_id = classifier_node(graph, report.output_id)
    head = {head_id, *graph.downstream(head_id)} if head_id else set()
    names = graph.module_names()
    out: list[Part] = []
    pending: list[str] = []  # layers without weights before the first part
    for nid in order:
        if nid in head:
            continue
        info = report.nodes.get(nid)
        weights = info.params if info else 0
        stage = stage_of(graph.node(nid).path)
        own = weights and graph.block(nid).category != "Normalization"  # BN joins its conv
        key = stage or (names[nid] if own else "")
        if out and (not key or out[-1].name == key):  # joins the part before
            last = out[-1]
            out[-1] = Part(last.name, (*last.nodes, nid), last.params + weights)
        elif key:
            out.append(Part(key, (*pending, nid), weights))
            pending = []
        else:
            pending.append(nid)
    if head or pending:
        members = tuple(pending) + tuple(n for n in order if n in head)
        params = sum(report.nodes[n].params for n in members if n in report.nodes)
        out.append(Part(names[head_id] if head_id else "head", members, params))
    merged: list[Part] = []  # a part without weights (a dropout stage) joins the next
    carry: tuple[str, ...] = ()
    for part in out:
        if not part.params and part is not out[-1]:
            carry += part.nodes
            continue
        merged.append(Part(part.name, carry + part.nodes, part.params))
        carry = ()
    return merged


def train_last(graph: Graph, count: int, backbone_mult: float = 1.0) -> dict[str, Learning]:
    """The learning of every node when only the last ``count`` parts train (the rest
    frozen), the trainable parts before the head at ``backbone_mult``. Only the nodes whose
    learning would change are returned."""
    all_parts = parts(graph)
    count = max(1, min(count, len(all_parts)))
    frozen = {n for p in all_parts[: len(all_parts) - count] for n in p.nodes}
    head = set(all_parts[-1].nodes)
    out = {}
    for nid, node in graph.nodes.items():
        want = Learning(
            trainable=nid not in frozen,
            lr_mult=1.0 if nid in head or nid in frozen else backbone_mult,
        )
        if node.learning != want:
            out[nid] = want
    return out


def freeze_up_to(graph: Graph, node_id: str) -> dict[str, Learning]:
    """Freeze ``node_id`` and everything it depends on; the rest trains (fastai's
    ``freeze_to``). Multipliers are kept. Only the nodes that change are returned."""
    frozen = graph.upstream(node_id) | {node_id}
    out = {}
    for nid, node in graph.nodes.items():
        want = Learning(trainable=nid not in frozen, lr_mult=node.learning.lr_mult)
        if node.learning != want:
            out[nid] = want
    return out


def describe_learning(graph: Graph, report: ShapeReport | None = None) -> str:
    """'11,176,512 of 11,181,642 parameters frozen (21 layers); 5,130 train' — or ''."""
    report = report or check(graph)
    weights = {n: i.params for n, i in report.nodes.items() if i.params}
    frozen = [n for n in weights if not graph.node(n).learning.trainable]
    if not frozen:
        return ""
    total = sum(weights.values())
    held = sum(weights[n] for n in frozen)
    return f"{held:,} of {total:,} parameters frozen ({len(frozen)} layers); {total - held:,} train"


@dataclass
class FineTunePlan:
    """What :func:`plan` changed: the graph (a copy), the training settings to set, and one
    line per change for the user."""

    graph: Graph
    settings: dict[str, Any]
    changes: list[str] = field(default_factory=list)


def plan(
    graph: Graph,
    *,
    weights: str,
    folder: str,
    classes: int,
    train_parts: int = 1,
    backbone_mult: float = 0.1,
    settings: dict[str, Any] | None = None,
) -> FineTunePlan:
    """Set a copy of ``graph`` up to fine-tune from ``weights`` on the image folder
    ``folder`` with ``classes`` classes: the Input at the weights' crop size, the classifier
    for the classes, the last ``train_parts`` parts trainable (the others frozen, the
    trainable backbone at ``backbone_mult``), and settings for a short fine-tuning run
    (lower learning rate, flips, the weights' preprocessing)."""
    ws = weight_set(weights)
    g = graph.copy()
    changes = adapt_to_dataset(g, (3, ws.crop, ws.crop), classes)
    learning = train_last(g, train_parts, backbone_mult)
    for nid, value in learning.items():
        g.set_learning(nid, value)
    all_parts = parts(g)
    trained = all_parts[len(all_parts) - max(1, min(train_parts, len(all_parts))) :]
    frozen_parts = len(all_parts) - len(trained)
    changes.append(
        f"frozen: {frozen_parts} of {len(all_parts)} parts"
        + (f" (up to {all_parts[frozen_parts - 1].name})" if frozen_parts else "")
        + f"; training {', '.join(p.name for p in trained)}"
        + (
            f" (the backbone at ×{backbone_mult:g})"
            if len(trained) > 1 and backbone_mult != 1
            else ""
        )
    )
    summary = describe_learning(g)
    if summary:
        changes.append(summary)
    new = {
        **(settings or {}),
        "dataset": "image_folder",
        "data_dir": folder,
        "pretrained": ws.name,
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 0.0001,
        "schedule": "cosine",
        "hflip": True,
        "epochs": 5,
        "batch_size": 32,
    }
    changes.append(
        f"settings: {ws.name} ({ws.accuracy}); images {ws.preprocessing}; SGD lr 0.01, "
        "cosine schedule, 5 epochs, batch 32, random flips"
    )
    return FineTunePlan(g, new, changes)


#: the file endings torchvision's ImageFolder reads
IMAGE_ENDINGS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class FolderScan:
    """What an image folder holds, as torchvision's ImageFolder will read it."""

    classes: tuple[str, ...]
    images: int
    split: bool  # train/ and val/ sub-folders
    problem: str = ""

    @property
    def summary(self) -> str:
        if self.problem:
            return self.problem
        shown = ", ".join(self.classes[:6]) + (", …" if len(self.classes) > 6 else "")
        where = "train/ and val/" if self.split else "one folder per class"
        return f"{len(self.classes)} classes ({shown}), {self.images:,} images, {where}"


def scan_folder(path: str) -> FolderScan:
    """The classes and images of ``path`` (one sub-folder per class, or train/ and val/
    of those), without reading any image."""
    import os

    root = os.path.expanduser(path)
    if not path:
        return FolderScan((), 0, False, "choose a folder with one sub-folder of images per class")
    if not os.path.isdir(root):
        return FolderScan((), 0, False, f"{path} is not a folder")
    split = os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "val"))
    top = os.path.join(root, "train") if split else root
    try:
        classes = sorted(e.name for e in os.scandir(top) if e.is_dir())
    except OSError as exc:
        return FolderScan((), 0, split, f"cannot read {top}: {exc.strerror}")
    count = 0
    for part in ["train", "val"] if split else [""]:
        for cls in classes:
            folder = os.path.join(root, part, cls)
            for _, _, files in os.walk(folder):
                count += sum(1 for f in files if f.lower().endswith(IMAGE_ENDINGS))
    if len(classes) < 2:
        return FolderScan(
            tuple(classes), count, split, "needs at least two class folders (one per class)"
        )
    if not count:
        return FolderScan(tuple(classes), 0, split, "no images (.jpg, .png, …) in the folders")
    return FolderScan(tuple(classes), count, split)
