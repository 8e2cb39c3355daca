"""Classify images with a trained network: a run folder (its best checkpoint, else its last)
or one of its checkpoints, or a project that starts from pretrained weights. Each image gets
the preprocessing the network was trained with (size, the weights' resize and centre crop,
normalisation) and the top classes with their probabilities, named from the run's dataset or
the weights' metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from app.core.compiler import compile_graph, weights_mismatch
from app.core.graph import Graph
from app.core.serialization import Project, ProjectFileError, load
from app.core.shapes import check
from app.core.torch_files import WeightsFileError, load_tensors
from app.core.training.config import ConfigError, TrainConfig
from app.core.training.data import fit_image
from app.core.training.errors import TrainingFailure
from app.core.training.events import RunStarted
from app.core.training.pretrained import load_pretrained
from app.core.training.rundir import RunDir
from app.core.weight_sets import resize_side, weight_set


class PredictError(Exception):
    """The source or an image cannot be used; the message says why."""


@dataclass(frozen=True)
class Prediction:
    image: str
    top: tuple[tuple[str, float], ...]  # (class name, probability), most probable first


@dataclass
class Predictor:
    model: nn.Module
    classes: tuple[str, ...]
    shape: tuple[int, int, int]  # C, H, W
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: int | None  # shorter side before the centre crop (pretrained preprocessing)
    source: str  # what the weights are: "run … (best checkpoint)"

    def tensor(self, path: Path) -> torch.Tensor:
        """The image as the network takes it (1, C, H, W), normalised."""
        from PIL import Image, UnidentifiedImageError

        if not path.is_file():
            raise PredictError(f"{path}: no such image file")
        try:
            with Image.open(path) as img:
                fitted = fit_image(img, self.shape[1:], self.shape[0], self.resize)
        except (OSError, UnidentifiedImageError) as exc:
            raise PredictError(f"{path}: not an image that can be read ({exc})") from None
        from torchvision.transforms.functional import pil_to_tensor

        x = pil_to_tensor(fitted).float().div(255).unsqueeze(0)
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def predict(self, paths: list[Path], k: int = 5) -> list[Prediction]:
        out = []
        self.model.eval()
        for path in paths:
            logits = self.model(self.tensor(Path(path)))[0, : len(self.classes)]
            probs = torch.softmax(logits.float(), 0)
            values, indices = probs.topk(min(k, len(self.classes)))
            top = tuple(
                (self.classes[i], float(v))
                for v, i in zip(values.tolist(), indices.tolist(), strict=True)
            )
            out.append(Prediction(str(path), top))
        return out


def load_predictor(source: str | Path, checkpoint: str = "") -> Predictor:
    """A predictor for ``source``: a run folder, a checkpoint file inside one, or a project
    file whose training starts from pretrained weights (``checkpoint``: best or last)."""
    path = Path(source)
    if path.is_file() and path.suffix == ".pt":
        run = path.parent.parent
        if not (run / RunDir.PROJECT).is_file():
            raise PredictError(
                f"{path} is not inside a run folder (RUN/checkpoints/NAME.pt): give the run "
                "folder, whose project says what network the weights belong to"
            )
        return _from_run(RunDir(run, create=False), path)
    if path.is_dir():
        run = RunDir(path, create=False)
        if not run.project_file.is_file():
            raise PredictError(f"{path} is not a run folder (no {RunDir.PROJECT} in it)")
        names = [checkpoint] if checkpoint else ["best", "last"]
        found = next((run.checkpoint_path(n) for n in names if run.has_checkpoint(n)), None)
        if found is None:
            raise PredictError(f"{path} has no {' or '.join(names)} checkpoint yet")
        return _from_run(run, found)
    try:
        project = load(path)
    except ProjectFileError as exc:
        raise PredictError(str(exc)) from None
    return from_project(project, str(path))


def _config(values: dict | None, where: str) -> TrainConfig:
    try:
        return TrainConfig.from_dict(values or {})
    except ConfigError as exc:
        raise PredictError(f"{where}: {exc}") from None


def _from_run(run: RunDir, checkpoint: Path) -> Predictor:
    try:
        project = load(run.project_file)
    except ProjectFileError as exc:
        raise PredictError(str(exc)) from None
    config = _config(run.config(), str(run.config_file))
    started = next((e for e in run.events() if isinstance(e, RunStarted)), None)
    if started is None or not started.mean:
        raise PredictError(
            f"{run.path} does not record its classes and normalisation (made by an earlier "
            "NetBuilder, or a run that never started): train it again"
        )
    model = _model(project.graph)
    try:
        data = load_tensors(checkpoint, torch.device("cpu"), "checkpoint")
    except WeightsFileError as exc:
        raise PredictError(str(exc)) from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or weights_mismatch(model, state):
        problem = weights_mismatch(model, state) if isinstance(state, dict) else "no weights"
        raise PredictError(f"{checkpoint} does not fit the run's network: {problem}")
    model.load_state_dict(state)
    shape = tuple(started.input_shape)
    return Predictor(
        model,
        tuple(started.classes),
        shape,  # type: ignore[arg-type]
        tuple(started.mean),
        tuple(started.std),
        resize_side(config.pretrained, shape[1:]),  # type: ignore[arg-type]
        f"run {run.path.name} ({checkpoint.stem} checkpoint)",
    )


def from_project(project: Project, where: str) -> Predictor:
    """A network that starts from pretrained weights and outputs their classes."""
    config = _config(project.training, where)
    if not config.pretrained:
        raise PredictError(
            f"{where} is a project, not a trained run: give a run folder (its checkpoints "
            "hold the trained weights), or set the project to start from pretrained weights"
        )
    ws = weight_set(config.pretrained)
    model = _model(project.graph)
    try:
        loaded = load_pretrained(model, config.pretrained)
    except TrainingFailure as exc:
        raise PredictError(str(exc)) from None
    if loaded.reinitialised:
        raise PredictError(
            f"{where}: {loaded.message}, so its outputs are untrained: train it first and "
            "predict with the run"
        )
    report = check(project.graph)
    shape = report.nodes[report.input_id].shape  # type: ignore[index]
    return Predictor(
        model,
        ws.categories,
        shape,  # type: ignore[arg-type]
        ws.mean,
        ws.std,
        resize_side(config.pretrained, shape[1:]),  # type: ignore[index]
        f"{ws.name} as published",
    )


def _model(graph: Graph) -> nn.Module:
    report = check(graph)
    if not report.ok:
        raise PredictError(
            "the network has errors: " + "; ".join(p.message for p in report.errors[:3])
        )
    return compile_graph(graph, report)


def format_predictions(predictions: list[Prediction]) -> str:
    lines = []
    for p in predictions:
        lines.append(p.image)
        width = max(len(name) for name, _ in p.top)
        for name, prob in p.top:
            lines.append(f"  {name:<{width}}  {prob:7.2%}")
    return "\n".join(lines)


def predict_files(source: str, paths: list[str], k: int = 5) -> list[Prediction]:
    """The top ``k`` classes of each image, with the weights of ``source`` (a run folder):
    what the window's worker process runs when images are dropped on the Results tab."""
    return load_predictor(source).predict([Path(p) for p in paths], k)
