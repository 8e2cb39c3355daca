"""Training configuration: one flat, immutable record, validated field by field.

Every field has a :class:`~blocks.params.Param` spec (type, default, range or choices, help), so
the project file, the CLI flags and the GUI form are all generated from the same table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blocks.params import InvalidParamError, Param

DATASETS = (
    "shapes",
    "shapes_gray",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "svhn",
    "image_folder",
)
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = (
    "constant",
    "step",
    "multistep",
    "exponential",
    "inverse_epoch",
    "inverse_sqrt",
    "cosine",
    "cosine_restarts",
    "one_cycle",
)
INITS = ("default", "lecun", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform")

FIELDS: tuple[Param, ...] = (
    # data
    Param(
        "dataset",
        "choice",
        "shapes",
        "Training data (shapes: built-in, offline).",
        choices=DATASETS,
    ),
    Param(
        "data_dir",
        "text",
        "",
        "Folder of your images (image_folder), or the download folder "
        "for torchvision datasets (empty: the user cache).",
    ),
    Param("train_size", "int", 10_000, "Images in the built-in training set.", 16, 1_000_000),
    Param("val_size", "int", 2_000, "Images in the built-in validation set.", 10, 1_000_000),
    Param(
        "val_split",
        "float",
        0.1,
        "Validation share for a folder without val/ (random split).",
        0.01,
        0.9,
    ),
    Param("batch_size", "int", 128, "Images per step.", 1, 65_536),
    Param("epochs", "int", 10, "Passes over the training set.", 1, 100_000),
    Param("workers", "int", 2, "DataLoader worker processes for large datasets.", 0, 64),
    # augmentation (training data only)
    Param(
        "crop_padding",
        "int",
        0,
        "Random crop after zero-padding by this many pixels (0: off).",
        0,
        64,
    ),
    Param("hflip", "bool", False, "Random horizontal flips."),
    Param("vflip", "bool", False, "Random vertical flips."),
    Param(
        "color_jitter", "float", 0.0, "Random brightness/contrast/saturation strength.", 0.0, 1.0
    ),
    Param("cutout", "int", 0, "Side of a random square set to zero (0: off).", 0, 1024),
    Param(
        "mixup_alpha", "float", 0.0, "Mixup Beta(α, α) strength; soft targets (0: off).", 0.0, 10.0
    ),
    Param(
        "tta",
        "choice",
        "none",
        "Test-time augmentation at evaluation: average the softmax over "
        "flips (flip) or flips and four shifted crops (flip_crops).",
        choices=("none", "flip", "flip_crops"),
    ),
    # optimisation
    Param("optimizer", "choice", "sgd", "Update rule.", choices=OPTIMIZERS),
    Param("lr", "float", 0.05, "Learning rate (peak LR for one-cycle).", 1e-8, 100.0),
    Param("momentum", "float", 0.9, "SGD momentum / RMSprop momentum.", 0.0, 0.9999),
    Param("nesterov", "bool", False, "Nesterov momentum (SGD)."),
    Param("beta1", "float", 0.9, "Adam β₁ (first-moment decay).", 0.0, 0.9999),
    Param("beta2", "float", 0.999, "Adam β₂ (second-moment decay).", 0.0, 0.99999),
    Param("eps", "float", 1e-8, "Denominator ε of adaptive methods.", 1e-12, 1.0),
    Param("amsgrad", "bool", False, "AMSGrad variant of Adam/AdamW."),
    Param("alpha", "float", 0.99, "RMSprop smoothing constant.", 0.0, 0.9999),
    Param("weight_decay", "float", 5e-4, "L2 penalty (decoupled for AdamW).", 0.0, 1.0),
    Param(
        "l1",
        "float",
        0.0,
        "L1 penalty λ·Σ|w| on conv and linear weights: drives many of them to zero (0: off).",
        0.0,
        1.0,
    ),
    Param("grad_clip", "float", 0.0, "Clip the global gradient norm to this (0: off).", 0.0, 1e6),
    Param(
        "label_smoothing",
        "float",
        0.0,
        "Cross-entropy label smoothing.",
        0.0,
        1.0,
        max_exclusive=True,
    ),
    # learning-rate schedule
    Param(
        "schedule", "choice", "constant", "How the LR changes during training.", choices=SCHEDULES
    ),
    Param(
        "warmup_epochs", "int", 0, "Linear warm-up from 0 over this many epochs first.", 0, 10_000
    ),
    Param("step_size", "int", 30, "step: multiply the LR by γ every this many epochs.", 1, 100_000),
    Param("gamma", "float", 0.1, "step/multistep/exponential decay factor γ.", 1e-6, 1.0),
    Param(
        "milestones",
        "ints",
        (30, 60, 90),
        "multistep: epochs at which the LR is multiplied by γ.",
        1,
        100_000,
    ),
    Param("eta_min", "float", 0.0, "cosine: lowest LR.", 0.0, 100.0),
    Param(
        "restart_period", "int", 10, "cosine_restarts: first cycle length T₀ in epochs.", 1, 100_000
    ),
    Param("restart_mult", "int", 1, "cosine_restarts: cycle length multiplier T_mult.", 1, 10),
    Param(
        "pct_start", "float", 0.3, "one_cycle: share of steps spent increasing the LR.", 0.01, 0.99
    ),
    # initialisation
    Param(
        "init",
        "choice",
        "default",
        "Weight initialisation of conv and linear layers.",
        choices=INITS,
    ),
    Param(
        "init_mode",
        "choice",
        "fan_in",
        "He init: preserve variance forward (fan_in) or backward (fan_out).",
        choices=("fan_in", "fan_out"),
    ),
    Param("zero_bias", "bool", True, "Zero the biases when initialising (Xavier/He papers)."),
    Param(
        "zero_init_residual",
        "bool",
        False,
        "Zero the last BN γ of every residual branch so blocks start as identities.",
    ),
    # regularisation and ensembles
    Param(
        "early_stopping",
        "int",
        0,
        "Stop after this many epochs without improvement (0: off).",
        0,
        10_000,
    ),
    Param(
        "monitor",
        "choice",
        "val_loss",
        "Metric watched by early stopping and the best checkpoint.",
        choices=("val_loss", "val_acc"),
    ),
    Param("restore_best", "bool", True, "After early stopping, restore the best weights."),
    Param(
        "snapshots",
        "int",
        0,
        "Snapshot ensemble: M cosine cycles, keep each cycle's weights (0: off).",
        0,
        100,
    ),
    # runtime
    Param(
        "device",
        "choice",
        "auto",
        "auto: CUDA, then MPS, then CPU.",
        choices=("auto", "cpu", "cuda", "mps"),
    ),
    Param("amp", "choice", "none", "Mixed precision autocast.", choices=("none", "bf16", "fp16")),
    Param("channels_last", "bool", False, "NHWC memory format (faster convs on many devices)."),
    Param("compile", "bool", False, "torch.compile the model (slow start, faster steps)."),
    Param("seed", "int", 0, "Seed for data order, augmentation and initialisation.", 0, 2**31 - 1),
    Param("report_every", "int", 20, "Report train metrics every this many steps.", 1, 100_000),
)

GROUPS: dict[str, tuple[str, ...]] = {
    "Data": (
        "dataset",
        "data_dir",
        "train_size",
        "val_size",
        "val_split",
        "batch_size",
        "epochs",
        "workers",
    ),
    "Augmentation": (
        "crop_padding",
        "hflip",
        "vflip",
        "color_jitter",
        "cutout",
        "mixup_alpha",
        "tta",
    ),
    "Optimizer": (
        "optimizer",
        "lr",
        "momentum",
        "nesterov",
        "beta1",
        "beta2",
        "eps",
        "amsgrad",
        "alpha",
        "weight_decay",
        "l1",
        "grad_clip",
        "label_smoothing",
    ),
    "Schedule": (
        "schedule",
        "warmup_epochs",
        "step_size",
        "gamma",
        "milestones",
        "eta_min",
        "restart_period",
        "restart_mult",
        "pct_start",
    ),
    "Initialisation": ("init", "init_mode", "zero_bias", "zero_init_residual"),
    "Regularisation": ("early_stopping", "monitor", "restore_best", "snapshots"),
    "Runtime": ("device", "amp", "channels_last", "compile", "seed", "report_every"),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Build with :meth:`from_dict` to validate."""

    dataset: str = "shapes"
    data_dir: str = ""
    train_size: int = 10_000
    val_size: int = 2_000
    val_split: float = 0.1
    batch_size: int = 128
    epochs: int = 10
    workers: int = 2
    crop_padding: int = 0
    hflip: bool = False
    vflip: bool = False
    color_jitter: float = 0.0
    cutout: int = 0
    mixup_alpha: float = 0.0
    tta: str = "none"
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    amsgrad: bool = False
    alpha: float = 0.99
    weight_decay: float = 5e-4
    l1: float = 0.0
    grad_clip: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    step_size: int = 30
    gamma: float = 0.1
    milestones: tuple[int, ...] = (30, 60, 90)
    eta_min: float = 0.0
    restart_period: int = 10
    restart_mult: int = 1
    pct_start: float = 0.3
    init: str = "default"
    init_mode: str = "fan_in"
    zero_bias: bool = True
    zero_init_residual: bool = False
    early_stopping: int = 0
    monitor: str = "val_loss"
    restore_best: bool = True
    snapshots: int = 0
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    seed: int = 0
    report_every: int = 20

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Validate every given field (unknown names are errors); missing ones take defaults.
        Raises :class:`ConfigError` listing every problem."""
        specs = {p.name: p for p in FIELDS}
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

    def changed(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (what a project file stores)."""
        default = TrainConfig().to_dict()
        return {k: v for k, v in self.to_dict().items() if default[k] != v}


class ConfigError(ValueError):
    """Invalid training settings; ``problems`` lists each as 'field: reason'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid training settings:\n" + "\n".join(f"  - {p}" for p in problems))


#: training-set sizes of the torchvision datasets (for the LR preview before any download)
KNOWN_TRAIN_SIZES = {
    "mnist": 60_000,
    "fashion_mnist": 60_000,
    "cifar10": 50_000,
    "cifar100": 50_000,
    "svhn": 73_257,
}


def planned_steps_per_epoch(config: TrainConfig) -> int | None:
    """Steps per epoch as far as known before loading the data (None for an image folder)."""
    if config.dataset.startswith("shapes"):
        size = config.train_size
    else:
        size = KNOWN_TRAIN_SIZES.get(config.dataset)
    if size is None:
        return None
    b = config.batch_size  # the engine drops the last partial batch when there is more than one
    return size // b if size > b else 1
