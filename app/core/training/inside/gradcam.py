"""Where the network looks: Grad-CAM at a convolutional node (Selvaraju et al.) and input
saliency (the gradient of the class score with respect to the pixels).

Grad-CAM weighs each channel of the node's maps by the mean gradient of the class score over
that channel, sums them, keeps the positive part and scales it up to the image; the class is
the predicted one unless another is asked for. On the built-in shapes the object's box is
known, so how often the map's peak falls inside the box can be measured against chance (the
box's share of the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from app.core.compiler import node_modules
from app.core.graph import Graph
from app.core.shapes import check
from app.core.training.inside.features import FeatureError


@dataclass(frozen=True)
class Attribution:
    heat: torch.Tensor  # (N, H, W) in [0, 1], at the image's size
    predicted: torch.Tensor  # (N,) the predicted classes
    target: torch.Tensor  # (N,) the classes explained
    probability: torch.Tensor  # (N,) the softmax of the explained class


def default_cam_node(graph: Graph) -> str:
    """The last layer with weights whose output still has a spatial map (C×H×W): where
    Grad-CAM is usually read (LeNet's second conv, ResNet's last block)."""
    report = check(graph)
    found = None
    for nid in graph.topological_order():
        info = report.nodes.get(nid)
        if info and info.params and info.shape is not None and len(info.shape) == 3:
            found = nid
    if found is None:
        raise FeatureError("the network has no convolutional layer with a spatial map")
    return found


def gradcam(
    model: nn.Module,
    graph: Graph,
    node_id: str,
    x: torch.Tensor,
    target: torch.Tensor | None = None,
) -> Attribution:
    """Grad-CAM of ``node_id`` for the images ``x`` (N, C, H, W, normalised)."""
    module = node_modules(model).get(node_id)
    if module is None:
        raise FeatureError(f"{node_id} has no layer of its own to read Grad-CAM at")
    model.eval()
    kept: list[torch.Tensor] = []

    def hook(_module, _inputs, output):
        output.retain_grad()
        kept.append(output)

    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            out = model(x)
            target, predicted, probability = _target(out, target)
            model.zero_grad(set_to_none=True)
            out.gather(1, target[:, None]).sum().backward()
    finally:
        handle.remove()
    maps = kept[0]
    if maps.ndim != 4:
        raise FeatureError(f"{node_id}'s output has no spatial map ({tuple(maps.shape[1:])})")
    weights = maps.grad.mean((2, 3), keepdim=True)  # type: ignore[union-attr]
    cam = torch.relu((weights * maps.detach()).sum(1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return Attribution(_unit(cam[:, 0]), predicted, target, probability)


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None) -> Attribution:
    """|∂ score / ∂ pixel|, the largest over the colour channels, for each image."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        target, predicted, probability = _target(out, target)
        model.zero_grad(set_to_none=True)
        out.gather(1, target[:, None]).sum().backward()
    return Attribution(_unit(x.grad.abs().amax(1)), predicted, target, probability)  # type: ignore[union-attr]


def _target(out: torch.Tensor, target: torch.Tensor | None):  # type: ignore[no-untyped-def]
    probs = torch.softmax(out.detach().float(), 1)
    predicted = probs.argmax(1)
    target = predicted if target is None else target.to(out.device)
    return target, predicted, probs.gather(1, target[:, None])[:, 0]


def _unit(heat: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] (an all-zero map stays zero)."""
    flat = heat.detach().flatten(1)
    low = flat.amin(1, keepdim=True)
    span = (flat.amax(1, keepdim=True) - low).clamp_min(1e-12)
    return ((flat - low) / span).view_as(heat)


@dataclass(frozen=True)
class Localisation:
    """How often the peak of the map lies inside the object's box, on the correctly
    classified images, against chance (the mean share of the image the box covers)."""

    hits: int
    images: int  # correctly classified images looked at
    baseline: float

    @property
    def rate(self) -> float:
        return self.hits / max(self.images, 1)

    @property
    def text(self) -> str:
        return (
            f"peak inside the object's box for {self.hits} of {self.images} correctly "
            f"classified images ({self.rate:.1%}); chance (the box's share of the image) "
            f"{self.baseline:.1%}"
        )


def localisation(heat: torch.Tensor, boxes: torch.Tensor, correct: torch.Tensor) -> Localisation:
    """Peaks of ``heat`` (N, H, W) against ``boxes`` (N, 4: x0, y0, x1, y1 inclusive) on the
    images where ``correct``."""
    _, h, w = heat.shape
    peak = heat.flatten(1).argmax(1)
    row, col = peak // w, peak % w
    boxes = boxes.to(heat.device)
    inside = (
        (col >= boxes[:, 0]) & (col <= boxes[:, 2]) & (row >= boxes[:, 1]) & (row <= boxes[:, 3])
    )
    area = ((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)).float() / (h * w)
    keep = correct.to(heat.device)
    return Localisation(
        int(inside[keep].sum()), int(keep.sum()), float(area[keep].mean()) if keep.any() else 0.0
    )
