"""Training configuration: one flat, immutable record, validated field by field.

Each setting is declared once, below: its type, default, help, range or choices, and the group
it is shown in. The field specs (:func:`settings`), the groups (:func:`setting_groups`), the
project file's validation, the CLI flags and the GUI form are all derived from that one
declaration. The choices of ``dataset``, ``optimizer``, ``schedule`` and ``init`` are the names
in their registries (:mod:`app.core.training.options`), read when asked, so a registered option
appears everywhere at once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.core.training.options import DATASETS, INITS, OPTIMIZERS, SCHEDULES, Registry
from app.core.weight_sets import UnknownWeightSetError, weight_set
from blocks.params import InvalidParamError, Param

#: the Param kind of each annotation of a setting (str: choice when it has choices)
_KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "text", "tuple[int, ...]": "ints"}


class _Group:
    """Declares the settings of one group of the form: ``field = group(default, help, …)``."""

    def __init__(self, title: str) -> None:
        self.title = title

    def __call__(
        self,
        default: Any,
        help: str,
        minimum: float | None = None,
        maximum: float | None = None,
        *,
        choices: tuple[str, ...] | Registry = (),
        max_exclusive: bool = False,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """``check(value)``: a further test of a valid value; it returns the problem, if any."""
        spec = {
            "group": self.title,
            "help": help,
            "minimum": minimum,
            "maximum": maximum,
            "choices": choices,
            "max_exclusive": max_exclusive,
            "check": check,
        }
        return dataclasses.field(default=default, metadata=spec)


_data = _Group("Data")
_augmentation = _Group("Augmentation")
_optimizer = _Group("Optimizer")
_schedule = _Group("Schedule")
_init = _Group("Initialisation")
_regularisation = _Group("Regularisation")
_runtime = _Group("Runtime")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Build with :meth:`from_dict` to validate."""

    dataset: str = _data("shapes", "Training data (shapes: built-in, offline).", choices=DATASETS)
    data_dir: str = _data(
        "",
        "Folder of your images (image_folder), or the download folder "
        "for torchvision datasets (empty: the user cache).",
    )
    train_size: int = _data(10000, "Images in the built-in training set.", 16, 1000000)
    val_size: int = _data(2000, "Images in the built-in validation set.", 10, 1000000)
    val_split: float = _data(
        0.1, "Validation share for a folder without val/ (random split).", 0.01, 0.9
    )
    batch_size: int = _data(128, "Images per step.", 1, 65536)
    epochs: int = _data(10, "Passes over the training set.", 1, 100000)
    workers: int = _data(2, "DataLoader worker processes for large datasets.", 0, 64)
    crop_padding: int = _augmentation(
        0, "Random crop after zero-padding by this many pixels (0: off).", 0, 64
    )
    hflip: bool = _augmentation(False, "Random horizontal flips.")
    vflip: bool = _augmentation(False, "Random vertical flips.")
    color_jitter: float = _augmentation(
        0.0, "Random brightness/contrast/saturation strength.", 0.0, 1.0
    )
    cutout: int = _augmentation(0, "Side of a random square set to zero (0: off).", 0, 1024)
    mixup_alpha: float = _augmentation(
        0.0, "Mixup Beta(α, α) strength; soft targets (0: off).", 0.0, 10.0
    )
    tta: str = _augmentation(
        "none",
        "Test-time augmentation at evaluation: average the softmax over "
        "flips (flip) or flips and four shifted crops (flip_crops).",
        choices=("none", "flip", "flip_crops"),
    )
    optimizer: str = _optimizer("sgd", "Update rule.", choices=OPTIMIZERS)
    lr: float = _optimizer(0.05, "Learning rate (peak LR for one-cycle).", 1e-08, 100.0)
    momentum: float = _optimizer(0.9, "SGD momentum / RMSprop momentum.", 0.0, 0.9999)
    nesterov: bool = _optimizer(False, "Nesterov momentum (SGD).")
    beta1: float = _optimizer(0.9, "Adam β₁ (first-moment decay).", 0.0, 0.9999)
    beta2: float = _optimizer(0.999, "Adam β₂ (second-moment decay).", 0.0, 0.99999)
    eps: float = _optimizer(1e-08, "Denominator ε of adaptive methods.", 1e-12, 1.0)
    amsgrad: bool = _optimizer(False, "AMSGrad variant of Adam/AdamW.")
    alpha: float = _optimizer(0.99, "RMSprop smoothing constant.", 0.0, 0.9999)
    weight_decay: float = _optimizer(0.0005, "L2 penalty (decoupled for AdamW).", 0.0, 1.0)
    l1: float = _optimizer(
        0.0,
        "L1 penalty λ·Σ|w| on conv and linear weights: drives many of them to zero (0: off).",
        0.0,
        1.0,
    )
    grad_clip: float = _optimizer(
        0.0, "Clip the global gradient norm to this (0: off).", 0.0, 1000000.0
    )
    label_smoothing: float = _optimizer(
        0.0, "Cross-entropy label smoothing.", 0.0, 1.0, max_exclusive=True
    )
    schedule: str = _schedule("constant", "How the LR changes during training.", choices=SCHEDULES)
    warmup_epochs: int = _schedule(
        0, "Linear warm-up from 0 over this many epochs first.", 0, 10000
    )
    step_size: int = _schedule(30, "step: multiply the LR by γ every this many epochs.", 1, 100000)
    gamma: float = _schedule(0.1, "step/multistep/exponential decay factor γ.", 1e-06, 1.0)
    milestones: tuple[int, ...] = _schedule(
        (30, 60, 90), "multistep: epochs at which the LR is multiplied by γ.", 1, 100000
    )
    eta_min: float = _schedule(0.0, "cosine: lowest LR.", 0.0, 100.0)
    restart_period: int = _schedule(
        10, "cosine_restarts: first cycle length T₀ in epochs.", 1, 100000
    )
    restart_mult: int = _schedule(1, "cosine_restarts: cycle length multiplier T_mult.", 1, 10)
    pct_start: float = _schedule(
        0.3, "one_cycle: share of steps spent increasing the LR.", 0.01, 0.99
    )
    init: str = _init("default", "Weight initialisation of conv and linear layers.", choices=INITS)
    init_mode: str = _init(
        "fan_in",
        "He init: preserve variance forward (fan_in) or backward (fan_out).",
        choices=("fan_in", "fan_out"),
    )
    zero_bias: bool = _init(True, "Zero the biases when initialising (Xavier/He papers).")
    zero_init_residual: bool = _init(
        False, "Zero the last BN γ of every residual branch so blocks start as identities."
    )
    pretrained: str = _init(
        "",
        "Start from torchvision's pretrained weights, e.g. ResNet18_Weights.IMAGENET1K_V1: "
        "downloaded once into the torch hub cache, loaded by module name; layers of another "
        "shape (a classifier for your classes) keep their initialisation, and the images get "
        "the weights' preprocessing (empty: none).",
        check=lambda name: _weight_set_problem(name),
    )
    weights: str = _init(
        "",
        "Start from these weights: a .pt state dict keyed by module name (an import's "
        "weights, a run's best.pt), loaded by name after initialisation (and after "
        "pretrained); layers of another shape keep their initialisation (empty: none).",
    )
    early_stopping: int = _regularisation(
        0, "Stop after this many epochs without improvement (0: off).", 0, 10000
    )
    monitor: str = _regularisation(
        "val_loss",
        "Metric watched by early stopping and the best checkpoint.",
        choices=("val_loss", "val_acc"),
    )
    restore_best: bool = _regularisation(True, "After early stopping, restore the best weights.")
    snapshots: int = _regularisation(
        0, "Snapshot ensemble: M cosine cycles, keep each cycle's weights (0: off).", 0, 100
    )
    device: str = _runtime(
        "auto", "auto: CUDA, then MPS, then CPU.", choices=("auto", "cpu", "cuda", "mps")
    )
    amp: str = _runtime("none", "Mixed precision autocast.", choices=("none", "bf16", "fp16"))
    channels_last: bool = _runtime(False, "NHWC memory format (faster convs on many devices).")
    compile: bool = _runtime(False, "torch.compile the model (slow start, faster steps).")
    seed: int = _runtime(0, "Seed for data order, augmentation and initialisation.", 0, 2147483647)
    report_every: int = _runtime(20, "Report train metrics every this many steps.", 1, 100000)
    tensorboard: bool = _runtime(
        False,
        "Also write TensorBoard event files into the run folder (tensorboard --logdir "
        "RUNS_FOLDER shows every run); needs the tensorboard package.",
        check=lambda on: _tensorboard_problem(on),
    )
    activation_histograms: bool = _runtime(
        False,
        "At each report, one extra forward pass of the last batch (evaluation mode, no "
        "gradients) records a histogram of every layer's outputs on a log scale (Layers tab).",
    )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Validate every given field (unknown names are errors); missing ones take defaults.
        Raises :class:`ConfigError` listing every problem."""
        specs = {p.name: p for p in settings()}
        clean: dict[str, Any] = {}
        problems: list[str] = []
        for name, value in values.items():
            spec = specs.get(name)
            if spec is None:
                problems.append(f"{name}: unknown training setting")
                continue
            try:
                clean[name] = spec.validate(value)
            except InvalidParamError as exc:
                problems.append(str(exc))
                continue
            check = _FIELDS[name].metadata["check"]
            problem = check(clean[name]) if check else None
            if problem:
                problems.append(f"{name}: {problem}")
        if problems:
            raise ConfigError(problems)
        return cls(**clean)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists), in field order."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def with_paths_from(self, folder: str | os.PathLike[str] | None) -> TrainConfig:
        """The config with a relative ``weights`` file made absolute against ``folder`` (the
        project file's; the project saves it relative, as ``import`` writes it)."""
        if not self.weights or folder is None or os.path.isabs(self.weights):
            return self
        return dataclasses.replace(self, weights=os.path.join(folder, self.weights))

    def changed(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (what a project file stores)."""
        default = TrainConfig().to_dict()
        return {k: v for k, v in self.to_dict().items() if default[k] != v}


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _tensorboard_problem(on: bool) -> str | None:
    if not on:
        return None
    from app.core.training.tensorboard_log import missing

    return missing()


def _weight_set_problem(name: str) -> str | None:
    if not name:
        return None
    try:
        weight_set(name)
    except UnknownWeightSetError as exc:
        return str(exc)
    return None


def settings() -> tuple[Param, ...]:
    """The spec of every setting, in declaration order, with the registries' current names
    as the choices of the option fields."""
    out = []
    for field in dataclasses.fields(TrainConfig):
        meta = field.metadata
        choices = meta["choices"]
        if isinstance(choices, Registry):
            choices = choices.names()
        kind = "choice" if choices else _KINDS[str(field.type)]
        help_text = meta["help"]
        out.append(
            Param(
                field.name,
                kind,  # type: ignore[arg-type]
                field.default,
                help_text,
                meta["minimum"],
                meta["maximum"],
                meta["max_exclusive"],
                tuple(choices),
            )
        )
    return tuple(out)


def setting_groups() -> dict[str, tuple[str, ...]]:
    """The settings' names by group, in declaration order (the form's pages, the CLI's
    sections)."""
    groups: dict[str, list[str]] = {}
    for field in dataclasses.fields(TrainConfig):
        groups.setdefault(field.metadata["group"], []).append(field.name)
    return {title: tuple(names) for title, names in groups.items()}


def option_registry(name: str) -> Registry | None:
    """The registry whose names a setting chooses from (``optimizer`` → OPTIMIZERS)."""
    for field in dataclasses.fields(TrainConfig):
        if field.name == name and isinstance(field.metadata["choices"], Registry):
            return field.metadata["choices"]
    return None


class ConfigError(ValueError):
    """Invalid training settings; ``problems`` lists each as 'field: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid training settings:\n" + "\n".join(f"  - {p}" for p in problems))


def planned_steps_per_epoch(config: TrainConfig) -> int | None:
    """Steps per epoch as far as known before loading the data (None for an image folder)."""
    spec = DATASETS[config.dataset]
    size = config.train_size if spec.source == "built_in" else spec.train_size
    if size is None:
        return None
    b = config.batch_size  # the engine drops the last partial batch when there is more than one
    return size // b if size > b else 1
