"""Starting from torchvision's pretrained weights.

torchvision's own mechanism fetches them: ``Weights.get_state_dict`` (``torch.hub``'s
``load_state_dict_from_url``) keeps each file in the torch hub cache (``$TORCH_HOME/hub/
checkpoints``) and reads a file already there without any network. The weights load into a
compiled network by module name; a layer whose shape differs (a classifier replaced for
another number of classes) keeps its initialisation and is named in the result.

``python -m app.core.training.pretrained --catalogue`` writes ``app/core/weight_sets.json``
from the installed torchvision's weight metadata.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from app.core.compiler import weights_mismatch
from app.core.training.errors import TrainingFailure
from app.core.weight_sets import (
    CATALOGUE,
    DEFAULT_LICENCE,
    WeightSet,
    cache_folder,
    weight_set,
)


def cached_file(ws: WeightSet) -> Path:
    return cache_folder() / ws.file


class PretrainedError(TrainingFailure):
    def __init__(self, message: str) -> None:
        super().__init__("weights", message)


def fetch_state(name: str, *, progress: bool = False) -> dict[str, torch.Tensor]:
    """The weight set's tensors, from the cache or downloaded into it (with torch.hub's
    progress bar on stderr when ``progress``). Offline, the message names the file and the
    folder to put it in."""
    try:
        ws = weight_set(name)
    except KeyError as exc:
        raise PretrainedError(str(exc)) from None
    from torchvision import models

    path = cached_file(ws)
    try:  # torchvision's builder: it fetches the file and renames legacy keys (DenseNet's)
        model = models.get_model(ws.model, weights=ws.name, progress=progress)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad hash a RuntimeError
        if path.exists():
            raise PretrainedError(f"cannot read {path}: {_reason(exc)}") from None
        raise PretrainedError(
            f"could not download {ws.name} ({ws.size_mb:.1f} MB): {_reason(exc)}. Without "
            f"internet, download {ws.url} on another machine and put the file {ws.file} in "
            f"{path.parent}"
        ) from None
    return model.state_dict()


def fetch_with_progress(name: str, report: Callable[[str], None], *, every_s: float = 0.5) -> None:
    """Put weight set ``name`` in the cache (if it is not there yet), calling ``report`` with
    'downloading …: 12.3 of 44.7 MB' about every ``every_s`` seconds while torch.hub writes
    its partial file. Raises :class:`PretrainedError` as :func:`fetch_state` does."""
    try:
        ws = weight_set(name)
    except KeyError as exc:
        raise PretrainedError(str(exc)) from None
    path = cached_file(ws)
    if path.exists():
        return
    failure: list[BaseException] = []

    def fetch() -> None:
        try:
            fetch_state(name)
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    worker = threading.Thread(target=fetch, name="weights-download", daemon=True)
    worker.start()
    total, done = ws.size_mb, 0.0
    while worker.is_alive():
        worker.join(every_s)
        partial = sorted(path.parent.glob(f"{ws.file}.*.partial"), key=_mtime)
        with contextlib.suppress(OSError):  # renamed meanwhile: the last size stands
            done = partial[-1].stat().st_size / 2**20 if partial else done
        text = f"downloading {ws.name}: {done:.1f} of {total:.1f} MB into {path.parent}"
        report(text, done, total)
    if failure:
        raise failure[0]


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


@dataclass(frozen=True)
class Loaded:
    """What :func:`load_pretrained` did: the tensors loaded, and the layers (module names)
    that kept their initialisation because their shapes differ, with both shapes."""

    name: str
    loaded: int
    reinitialised: tuple[tuple[str, str], ...]

    @property
    def message(self) -> str:
        text = f"started from {self.name} ({self.loaded} tensors)"
        if self.reinitialised:
            parts = "; ".join(f"{m} ({why})" for m, why in self.reinitialised)
            text += f"; re-initialised: {parts}"
        return text


def load_pretrained(
    model: nn.Module, name: str, state: Mapping[str, torch.Tensor] | None = None
) -> Loaded:
    """Load weight set ``name`` (or its already fetched ``state``) into ``model`` by name
    (see :func:`load_by_name`)."""
    return load_by_name(model, state if state is not None else fetch_state(name), name)


def load_by_name(model: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> Loaded:
    """Load ``state`` into ``model`` by name. Every name must match; tensors whose shapes
    differ (a classifier for another number of classes) stay as initialised and are named.
    ``source`` names the weights in messages."""
    own = model.state_dict()
    if set(own) != set(state):
        problem = weights_mismatch(model, dict(state))
        raise PretrainedError(f"{source} does not fit this network: {problem}")
    differ = {k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)}
    if len(differ) * 2 > len(own):
        raise PretrainedError(
            f"{source} does not fit this network: {len(differ)} of its {len(own)} tensors "
            "have other shapes"
        )
    model.load_state_dict({k: v for k, v in state.items() if k not in differ}, strict=False)
    modules: dict[str, str] = {}
    for key in sorted(differ, key=list(own).index):
        module = key.rsplit(".", 1)[0]
        if module not in modules:
            modules[module] = f"{_shape(own[key])} here, {_shape(state[key])} in the weights"
    return Loaded(source, len(state) - len(differ), tuple(modules.items()))


def _shape(t: torch.Tensor) -> str:
    return "×".join(map(str, t.shape)) or "scalar"


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", "") or exc) or type(exc).__name__
    return text.splitlines()[0][:200].rstrip(" :.")


# ------------------------------------------------------------------------- catalogue
def live_catalogue() -> dict:
    """The catalogue document made from the installed torchvision's weight metadata: every
    classification model's weight sets."""
    import torchvision
    from torchvision.models import get_model_weights, list_models

    categories: dict[str, list[str]] = {}
    weights = []
    for model in list_models(module=torchvision.models):
        enum = get_model_weights(model)
        rescales = _transforms_input(model)
        for w in enum:
            meta = w.meta
            cats = list(meta.get("categories") or [])
            key = next((k for k, v in categories.items() if v == cats), None)
            if key is None:
                key = f"set{len(categories)}"
                categories[key] = cats
            metrics = meta.get("_metrics", {})
            dataset, scores = next(iter(metrics.items())) if metrics else ("", {})
            t = w.transforms.keywords  # functools.partial(ImageClassification, …)
            preset = w.transforms()
            weights.append(
                {
                    "name": str(w),
                    "model": model,
                    "url": w.url,
                    "dataset": dataset,
                    "acc1": scores.get("acc@1"),
                    "acc5": scores.get("acc@5"),
                    "params": meta["num_params"],
                    "size_mb": meta.get("_file_size", 0.0),
                    "licence": meta.get("license", DEFAULT_LICENCE),
                    "recipe": meta.get("recipe", ""),
                    "default": w is enum.DEFAULT,
                    "resize": preset.resize_size[0],
                    "crop": t.get("crop_size", preset.crop_size[0]),
                    # GoogLeNet's and Inception-v3's builders, given weights, turn on
                    # transform_input: the network renormalises ImageNet-normalised images to
                    # (x - 0.5) / 0.5 itself. Our blocks do not, so the images get that directly.
                    "mean": [0.5] * 3 if rescales else list(preset.mean),
                    "std": [0.5] * 3 if rescales else list(preset.std),
                    "interpolation": preset.interpolation.value,
                    "categories": key,
                }
            )
    return {"torchvision": torchvision.__version__, "categories": categories, "weights": weights}


def _transforms_input(model: str) -> bool:
    """Whether torchvision's builder of ``model`` makes its pretrained network renormalise
    its input (``transform_input=True``, GoogLeNet and Inception-v3)."""
    import inspect
    import typing

    from torchvision.models import get_model_builder

    builder = get_model_builder(model)
    cls = typing.get_type_hints(builder).get("return")
    takes = cls is not None and "transform_input" in inspect.signature(cls).parameters
    return takes and '"transform_input", True' in inspect.getsource(builder)


def write_catalogue(path: Path = CATALOGUE) -> None:
    path.write_text(json.dumps(live_catalogue(), indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--catalogue"]:
        write_catalogue()
        print(f"wrote {CATALOGUE}")
    else:
        print("usage: python -m app.core.training.pretrained --catalogue")
