"""Feature maps at any node: what a layer computes for an image, with per-channel statistics,
and how many of a ReLU's units never fire on a batch of images ("dead units").

The activations are read with a forward hook on the node's module in the compiled model, so
they are exactly what the network computes there (a test holds them equal to a network cut
off after that node). The weights come from a run's checkpoint, or are the network's
initialisation when there is no run yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from app.core.compiler import compile_graph, node_modules
from app.core.graph import Graph
from app.core.shapes import check


class FeatureError(ValueError):
    """The node or the source cannot be shown; the message says why."""


@dataclass(frozen=True)
class ChannelStat:
    channel: int
    mean: float
    std: float
    minimum: float
    maximum: float
    active: float  # share of the channel's values above zero (for the image shown)


@dataclass(frozen=True)
class FeatureMaps:
    node_id: str
    name: str  # module name
    block: str
    maps: torch.Tensor  # the activation for the image: (C, H, W), (C,) or (F,)
    stats: tuple[ChannelStat, ...]
    #: channels (units of a flat output) that are never above zero for any image of the
    #: batch: None for a node whose output is not a ReLU's
    dead: int | None
    batch: int  # images the dead count looked at

    @property
    def summary(self) -> str:
        shape = "×".join(map(str, self.maps.shape))
        text = f"{self.name} ({self.block}): {shape}"
        if self.dead is not None:
            units = "channels" if self.maps.ndim == 3 else "units"
            text += f"; {self.dead} of {self.maps.shape[0]} {units} dead on {self.batch} images"
        return text


#: block types whose output has passed a ReLU (or is one)
RELU_OUTPUTS = frozenset({"relu", "conv_bn_relu", "residual", "fire", "inception", "nin_block"})


def capture(model: nn.Module, graph: Graph, node_id: str, x: torch.Tensor) -> torch.Tensor:
    """The output of ``node_id``'s module when ``model`` (compiled from ``graph``) runs on
    ``x``, read with a forward hook."""
    module = node_modules(model).get(node_id)
    if module is None:
        raise FeatureError(
            f"{node_id} ({graph.node(node_id).type_id}) has no layer of its own to look into"
        )
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen[0]


def feature_maps(
    model: nn.Module, graph: Graph, node_id: str, images: torch.Tensor, index: int = 0
) -> FeatureMaps:
    """The maps of ``node_id`` for ``images[index]`` (normalised, as the network takes
    them), its channel statistics, and the dead units over all of ``images``."""
    if node_id not in graph.nodes:
        known = ", ".join(n for n in graph.nodes if n in node_modules(model))
        raise FeatureError(f"no node {node_id!r} (the layers: {known})")
    model.eval()
    out = capture(model, graph, node_id, images).float()
    maps = out[index]
    stats = []
    for c in range(maps.shape[0]):
        v = maps[c].flatten()
        stats.append(
            ChannelStat(
                c,
                float(v.mean()),
                float(v.std()) if v.numel() > 1 else 0.0,
                float(v.min()),
                float(v.max()),
                float((v > 0).float().mean()),
            )
        )
    block = graph.node(node_id).type_id
    dead = None
    if block in RELU_OUTPUTS:
        fired = (out > 0).flatten(2).any(-1) if out.ndim > 2 else out > 0  # (N, C)
        dead = int((~fired.any(0)).sum())
    names = graph.module_names()
    return FeatureMaps(node_id, names[node_id], block, maps, tuple(stats), dead, len(images))


def stats_csv(fm: FeatureMaps) -> str:
    lines = ["channel,mean,std,min,max,active_share"]
    for s in fm.stats:
        lines.append(
            f"{s.channel},{s.mean:.6g},{s.std:.6g},{s.minimum:.6g},{s.maximum:.6g},{s.active:.4f}"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the network and images
@dataclass
class Subject:
    """A network with its weights and the images it is looked at with."""

    graph: Graph
    model: nn.Module
    images: torch.Tensor  # normalised validation images (N, C, H, W)
    labels: tuple[str, ...]  # the class of each image
    source: str  # "run 2026…-lenet5 (best checkpoint)" / "initialised (no run)"
    config: object = None  # the run's (or project's) TrainConfig
    normalise: object = None  # image file → normalised tensor (1, C, H, W), or None
    targets: torch.Tensor | None = None  # the images' class indices
    boxes: torch.Tensor | None = None  # their objects' boxes, where the dataset knows them
    classes: tuple[str, ...] = ()


def subject(source: str, *, checkpoint: str = "", count: int = 64, split: str = "val") -> Subject:
    """A run folder (its best checkpoint, else its last) or a project / presets:NAME (its
    initialisation), with ``count`` validation (or ``split="train"``: training) images of its
    dataset."""
    from app.core.serialization import ProjectFileError, load
    from app.core.training.config import TrainConfig
    from app.core.training.data import DatasetError, load_data
    from app.core.training.predict import PredictError, load_predictor
    from app.core.training.rundir import RunDir

    path = Path(source)
    predictor = None
    if path.is_dir() or path.suffix == ".pt":
        try:
            predictor = load_predictor(path, checkpoint)
        except PredictError as exc:
            raise FeatureError(str(exc)) from None
        run = RunDir(path if path.is_dir() else path.parent.parent, create=False)
        project = load(run.project_file)
        config = TrainConfig.from_dict(run.config() or {})
        model, what = predictor.model, predictor.source
    else:
        if source.startswith("presets:"):
            import presets

            try:
                project = presets.get(source.removeprefix("presets:")).project()
            except KeyError as exc:
                raise FeatureError(str(exc)) from None
        else:
            try:
                project = load(path)
            except ProjectFileError as exc:
                raise FeatureError(str(exc)) from None
        config = TrainConfig.from_dict(project.training)
        report = check(project.graph)
        if not report.ok:
            raise FeatureError(
                "the network has errors: " + "; ".join(p.message for p in report.errors[:3])
            )
        from app.core.training.init import initialise

        torch.manual_seed(config.seed)
        model = compile_graph(project.graph, report)
        initialise(model, config)
        what = "initialised (no run)"
    report = check(project.graph)
    shape = report.nodes[report.input_id].shape  # type: ignore[index]
    if split == "train":  # the run's own training images (the first ``count`` of them)
        small = config.replace(val_size=10)
    else:
        small = config.replace(val_size=max(10, count), train_size=16)
    try:
        data = load_data(small, torch.device("cpu"), tuple(shape[1:]))  # type: ignore[index]
    except DatasetError as exc:
        raise FeatureError(f"the images: {exc}") from None
    images, labels = next(
        (data.train if split == "train" else data.val).batches(count, shuffle=False)
    )
    # normalised as the run was (its own statistics), else as its dataset is
    mean = torch.tensor(predictor.mean if predictor else data.info.mean).view(1, -1, 1, 1)
    std = torch.tensor(predictor.std if predictor else data.info.std).view(1, -1, 1, 1)
    x = (images.float() / 255 - mean) / std
    names = tuple(data.info.classes[i] for i in labels.tolist())
    known = data.val_boxes is not None and split == "val"
    boxes = data.val_boxes[: len(labels)] if known else None  # type: ignore[index]
    return Subject(
        project.graph,
        model,
        x,
        names,
        what,
        config,
        predictor.tensor if predictor else None,
        labels,
        boxes,
        tuple(data.info.classes),
    )
