"""torchvision's pretrained weight sets, as its weight metadata describes them: the model,
the published accuracy, the file (its name in the torch hub cache and its size), the licence
and the preprocessing (resize, centre crop, mean and std).

The catalogue is read from ``weight_sets.json`` so that the window can list it without
importing torch; the file is written from torchvision's own metadata by
``python -m app.core.training.pretrained --catalogue`` and a test holds it equal to the
installed torchvision's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE = Path(__file__).with_name("weight_sets.json")
#: what a weight set's licence is when torchvision's metadata names none
DEFAULT_LICENCE = "not stated in torchvision's metadata (see the recipe)"


@dataclass(frozen=True)
class WeightSet:
    """One entry of a torchvision ``Weights`` enum (``ResNet18_Weights.IMAGENET1K_V1``)."""

    name: str
    model: str  # the torchvision.models builder: resnet18
    url: str
    dataset: str  # what the published accuracy was measured on: ImageNet-1K
    acc1: float | None
    acc5: float | None
    params: int
    size_mb: float
    licence: str
    recipe: str
    default: bool  # the enum's DEFAULT
    resize: int  # shorter side before the crop
    crop: int  # the network's input side
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    categories: tuple[str, ...]

    @property
    def file(self) -> str:
        """The file's name in the torch hub cache (``checkpoints/``), as torch.hub names it."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def accuracy(self) -> str:
        """``69.8% top-1 · 89.1% top-5 on ImageNet-1K`` (or what the metadata gives)."""
        if self.acc1 is None:
            return f"no published accuracy on {self.dataset}"
        top5 = f" · {self.acc5:.1f}% top-5" if self.acc5 is not None else ""
        return f"{self.acc1:.1f}% top-1{top5} on {self.dataset}"

    @property
    def preprocessing(self) -> str:
        mean = ", ".join(f"{v:.3f}" for v in self.mean)
        std = ", ".join(f"{v:.3f}" for v in self.std)
        return (
            f"resize {self.resize} ({self.interpolation}), centre crop {self.crop}, "
            f"mean ({mean}), std ({std})"
        )

    def resize_for(self, size: tuple[int, int]) -> int:
        """The shorter side an image is resized to before the centre crop to ``size`` (H, W):
        the weights' ratio (256 → 224) scaled to the network's input."""
        return max(min(size), round(min(size) * self.resize / self.crop))

    @property
    def summary(self) -> str:
        return f"{self.name}: {self.accuracy}, {self.params:,} parameters, {self.size_mb:.1f} MB"


def cache_folder() -> Path:
    """Where torch.hub keeps downloaded weights: ``$TORCH_HOME/hub/checkpoints`` (torch's own
    rule, written out so that the window knows without importing torch; a test holds the two
    equal)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch"
    )
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def is_cached(ws: WeightSet) -> bool:
    return (cache_folder() / ws.file).is_file()


class UnknownWeightSetError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@cache
def catalogue() -> dict[str, WeightSet]:
    """Every weight set by name, in torchvision's order."""
    doc = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    categories = {k: tuple(v) for k, v in doc["categories"].items()}
    out = {}
    for item in doc["weights"]:
        values = {**item, "categories": categories[item["categories"]]}
        values["mean"], values["std"] = tuple(values["mean"]), tuple(values["std"])
        out[item["name"]] = WeightSet(**values)
    return out


def weight_set(name: str) -> WeightSet:
    """The weight set called ``name``; an unknown name is an error naming the model's sets."""
    found = catalogue().get(name)
    if found is None:
        model = name.split("_Weights", 1)[0].lower()
        near = [w.name for w in catalogue().values() if w.model == model]
        hint = f" ({model} has {', '.join(near)})" if near else ""
        raise UnknownWeightSetError(f"no pretrained weight set {name!r} in torchvision{hint}")
    return found


def resize_side(pretrained: str, size: tuple[int, int]) -> int | None:
    """The shorter side before the centre crop with these pretrained weights (``""``: none,
    None: images are resized to ``size`` as they are)."""
    return weight_set(pretrained).resize_for(size) if pretrained else None


def for_model(model: str) -> list[WeightSet]:
    """The weight sets of a torchvision model (its DEFAULT first)."""
    sets = [w for w in catalogue().values() if w.model == model]
    return sorted(sets, key=lambda w: not w.default)
