"""The training options a user picks by name: optimizers, LR schedules, initialisers and
datasets, each one spec in one registry.

Everything else reads these registries: the settings' choices (and so the project file's
validation, the CLI flags and the GUI form), the engine, which builds from a spec, and the
training-script exporter, which writes the same construction into ``train.py``. Torch-free:
the window imports it. A spec names its torch class by import path, and its schedule or
initialisation function from ``portable/`` (torch-only code that the script copies).

Adding an optimizer is one entry here plus its test, for example::

    OPTIMIZERS.register(OptimizerSpec(
        "asgd", "Averaged SGD.", "torch.optim.ASGD",
        lambda c: {"weight_decay": c.weight_decay},
    ))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from app.core.training.portable import init_schemes, schedules

if TYPE_CHECKING:
    from app.core.training.config import TrainConfig

Arguments = Callable[["TrainConfig"], dict[str, Any]]


def _none(_config: TrainConfig) -> dict[str, Any]:
    return {}


class Spec:
    """What every option has: a stable ``name`` (stored in project files) and a ``help``."""

    name: str
    help: str


S = TypeVar("S", bound=Spec)


class Registry(Generic[S]):
    """Specs by name, in registration order; a name is registered once."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._specs: dict[str, S] = {}

    def register(self, spec: S) -> S:
        if spec.name in self._specs:
            raise ValueError(f"{self.kind} {spec.name!r} is already registered")
        if not spec.name.isidentifier():
            raise ValueError(f"{self.kind} name {spec.name!r} is not an identifier")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        del self._specs[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def __getitem__(self, name: str) -> S:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs)
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[S]:
        return iter(tuple(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    def describe(self) -> str:
        """One line per option: ``name: help`` (the settings' tooltips and CLI help)."""
        return "\n".join(f"{s.name}: {s.help}" for s in self)


# ------------------------------------------------------------------------ optimizers
@dataclass(frozen=True)
class OptimizerSpec(Spec):
    """An update rule: ``cls(trainable_params, lr=config.lr, **arguments(config))``.

    ``cls`` is the class's import path (``torch.optim.SGD``); ``fused`` says it has a fused
    CUDA kernel (one launch for all parameters), used on CUDA."""

    name: str
    help: str
    cls: str
    arguments: Arguments = _none
    fused: bool = False


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer")
OPTIMIZERS.register(
    OptimizerSpec(
        "sgd",
        "stochastic gradient descent with (Nesterov) momentum",
        "torch.optim.SGD",
        lambda c: {
            "momentum": c.momentum,
            "nesterov": c.nesterov and c.momentum > 0,
            "weight_decay": c.weight_decay,
        },
        fused=True,
    )
)
for _name, _cls, _help in (
    ("adam", "Adam", "Adam: per-weight steps from running gradient moments"),
    ("adamw", "AdamW", "Adam with decoupled weight decay"),
):
    OPTIMIZERS.register(
        OptimizerSpec(
            _name,
            _help,
            f"torch.optim.{_cls}",
            lambda c: {
                "betas": (c.beta1, c.beta2),
                "eps": c.eps,
                "weight_decay": c.weight_decay,
                "amsgrad": c.amsgrad,
            },
            fused=True,
        )
    )
OPTIMIZERS.register(
    OptimizerSpec(
        "rmsprop",
        "RMSprop: steps scaled by a running mean of squared gradients",
        "torch.optim.RMSprop",
        lambda c: {
            "alpha": c.alpha,
            "eps": c.eps,
            "momentum": c.momentum,
            "weight_decay": c.weight_decay,
        },
    )
)
OPTIMIZERS.register(
    OptimizerSpec(
        "adagrad",
        "Adagrad: steps scaled by all past squared gradients",
        "torch.optim.Adagrad",
        lambda c: {"eps": c.eps, "weight_decay": c.weight_decay},
    )
)


# ------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class ScheduleSpec(Spec):
    """A learning-rate curve: ``function(step, lr, spe, total, **arguments(config))``, a pure
    function from ``portable/schedules.py`` (the engine calls it, scripts copy it)."""

    name: str
    help: str
    function: Callable[..., float]
    arguments: Arguments = _none


SCHEDULES: Registry[ScheduleSpec] = Registry("schedule")
for _spec in (
    ScheduleSpec("constant", "the same LR throughout", schedules.constant_lr),
    ScheduleSpec(
        "step",
        "× gamma every step_size epochs",
        schedules.step_lr,
        lambda c: {"gamma": c.gamma, "step_size": c.step_size},
    ),
    ScheduleSpec(
        "multistep",
        "× gamma at each milestone epoch",
        schedules.multistep_lr,
        lambda c: {"gamma": c.gamma, "milestones": c.milestones},
    ),
    ScheduleSpec(
        "exponential",
        "× gamma every epoch",
        schedules.exponential_lr,
        lambda c: {"gamma": c.gamma},
    ),
    ScheduleSpec("inverse_epoch", "LR / epoch", schedules.inverse_epoch_lr),
    ScheduleSpec("inverse_sqrt", "LR / √step", schedules.inverse_sqrt_lr),
    ScheduleSpec(
        "cosine",
        "half a cosine down to eta_min (one cycle per snapshot)",
        schedules.cosine_lr,
        lambda c: {"eta_min": c.eta_min, "cycles": c.snapshots},
    ),
    ScheduleSpec(
        "cosine_restarts",
        "SGDR: cosine cycles of restart_period epochs, × restart_mult each",
        schedules.cosine_restarts_lr,
        lambda c: {"eta_min": c.eta_min, "period": c.restart_period, "mult": c.restart_mult},
    ),
    ScheduleSpec(
        "one_cycle",
        "up to LR over pct_start of the run, then down (Smith)",
        schedules.one_cycle_lr,
        lambda c: {"pct_start": c.pct_start},
    ),
):
    SCHEDULES.register(_spec)


# --------------------------------------------------------------------- initialisers
@dataclass(frozen=True)
class InitSpec(Spec):
    """Weights of conv and linear layers drawn with deviation ``std(fan_in, fan_out, mode)``
    from a normal or ``uniform`` distribution (``portable/init.py``); no ``std``: PyTorch's
    own initialisation is kept."""

    name: str
    help: str
    std: Callable[[int, int, str], float] | None = None
    uniform: bool = False


INITS: Registry[InitSpec] = Registry("initialisation")
for _spec in (
    InitSpec("default", "PyTorch's own (Kaiming-uniform with a=√5)"),
    InitSpec("lecun", "LeCun normal: variance 1/fan_in", init_schemes.lecun_std),
    InitSpec(
        "xavier_normal", "Glorot normal: variance 2/(fan_in+fan_out)", init_schemes.xavier_std
    ),
    InitSpec("xavier_uniform", "Glorot uniform", init_schemes.xavier_std, uniform=True),
    InitSpec("he_normal", "He normal, for ReLU: variance 2/fan", init_schemes.he_std),
    InitSpec("he_uniform", "He uniform, for ReLU", init_schemes.he_std, uniform=True),
):
    INITS.register(_spec)


# ------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class DatasetSpec(Spec):
    """Training images. ``source``: ``built_in`` (drawn offline at the network's size),
    ``torchvision`` (downloaded by ``torchvision.datasets.<tv_class>``) or ``folder`` (the
    user's images, resized to the network's input).

    ``side`` None: any square side; ``classes`` / ``train_size`` None: known once loaded.
    ``split``: how the torchvision class picks train or test (``train=`` or ``split=``) and
    ``labels`` the attribute holding its labels."""

    name: str
    help: str
    title: str
    source: Literal["built_in", "torchvision", "folder"]
    channels: int
    side: int | None = None
    classes: int | None = None
    train_size: int | None = None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    tv_class: str = ""
    split: Literal["train", "split"] = "train"
    labels: str = "targets"


DATASETS: Registry[DatasetSpec] = Registry("dataset")
for _spec in (
    DatasetSpec("shapes", "ten kinds of shapes, built in, offline", "Shapes", "built_in", 3,
                classes=10),
    DatasetSpec("shapes_gray", "the shapes in grey", "Shapes", "built_in", 1, classes=10),
    DatasetSpec("mnist", "handwritten digits, 28×28 grey", "MNIST", "torchvision", 1, 28, 10,
                60_000, (0.1307,), (0.3081,), "MNIST"),
    DatasetSpec("fashion_mnist", "clothing, 28×28 grey", "FashionMNIST", "torchvision", 1, 28,
                10, 60_000, (0.2860,), (0.3530,), "FashionMNIST"),
    DatasetSpec("cifar10", "10 classes of 32×32 photos", "CIFAR-10", "torchvision", 3, 32, 10,
                50_000, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "CIFAR10"),
    DatasetSpec("cifar100", "100 classes of 32×32 photos", "CIFAR-100", "torchvision", 3, 32,
                100, 50_000, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "CIFAR100"),
    DatasetSpec("svhn", "house numbers, 32×32 colour", "SVHN", "torchvision", 3, 32, 10,
                73_257, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), "SVHN",
                split="split", labels="labels"),
    DatasetSpec("image_folder", "your images: a folder per class (or train/ and val/)",
                "Image folder", "folder", 3, mean=(0.485, 0.456, 0.406),
                std=(0.229, 0.224, 0.225)),
):  # fmt: skip
    DATASETS.register(_spec)


def built_in_dataset(channels: int) -> DatasetSpec | None:
    """The offline dataset drawn with ``channels`` channels, if there is one."""
    return next((d for d in DATASETS if d.source == "built_in" and d.channels == channels), None)


del _spec, _name, _cls, _help  # the loops above leave no names behind
