"""Immutable records a training run yields, and the thread-safe control a GUI or CLI uses to
pause, resume and stop it between steps."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

#: the bin edges of the activation histograms: ±10⁻³ … ±10², a decade a bin, and one bin
#: for |x| < 10⁻³ (where a ReLU's zeros fall): 13 bins with the two open ends
HISTOGRAM_EDGES = tuple([-(10.0**e) for e in range(2, -4, -1)] + [10.0**e for e in range(-3, 3)])
#: a readable name per bin
HISTOGRAM_BINS = (
    "< -100",
    *(f"-{10.0**e:g}…-{10.0 ** (e - 1):g}" for e in range(2, -3, -1)),
    "|x| < 0.001",
    *(f"{10.0 ** (e - 1):g}…{10.0**e:g}" for e in range(-2, 3)),
    "> 100",
)


@dataclass(frozen=True)
class LayerStat:
    """Per node: gradient norm, weight norm and the update/weight ratio of the last step
    (the course's rule of thumb: about 1e-3 for a well-tuned learning rate)."""

    node_id: str
    grad_norm: float
    weight_norm: float
    update_ratio: float
    #: share of the layer's outputs in each bin of HISTOGRAM_EDGES (the
    #: ``activation_histograms`` setting; empty when off)
    histogram: tuple[float, ...] = ()


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    device: str
    dataset: str
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    train_size: int
    val_size: int
    params: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    start_step: int
    #: the normalisation the images get (the dataset's, or the pretrained weights')
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    #: how the weights started: pretrained (and what was re-initialised), frozen layers
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepReport:
    """Metrics of the steps since the previous report (one host sync per report)."""

    step: int  # steps completed so far (global)
    epoch: int  # 0-based epoch the steps belong to
    steps: tuple[int, ...]
    losses: tuple[float, ...]
    lrs: tuple[float, ...]
    train_acc: float
    images_per_sec: float
    eta_s: float
    grad_norm: float
    layers: tuple[LayerStat, ...] = ()


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based count of completed epochs
    step: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_top5: float
    lr: float
    epoch_time: float
    images_per_sec: float
    eta_s: float
    best: bool


@dataclass(frozen=True)
class Paused:
    step: int


@dataclass(frozen=True)
class Resumed:
    step: int


@dataclass(frozen=True)
class Diverged:
    """A non-finite loss in an interactive run. The weights went back to the last good state
    (``resume_step``: the last checkpoint, or the start) and the run paused: Resume continues
    from there (after lowering the learning rate, say), Stop ends it with that state kept.
    ``node_id`` names the first layer producing non-finite values."""

    step: int  # the first step whose loss was not finite
    epoch: int  # 0-based
    lr: float
    loss: float
    node_id: str | None
    message: str
    resume_step: int


@dataclass(frozen=True)
class RunFinished:
    """``reason``: completed, stopped or early_stopped."""

    reason: str
    step: int
    epochs_done: int
    best_epoch: int
    best_val_acc: float
    best_val_loss: float
    run_dir: str
    ensemble_acc: float | None = None
    ranks: int = 1
    #: under DDP: whether all ranks ended with identical weights
    ranks_in_sync: bool | None = None


@dataclass(frozen=True)
class RunFailed:
    """``kind``: graph, data, nan, oom, checkpoint or error. ``node_id`` names the first layer
    producing non-finite values for nan failures."""

    kind: str
    message: str
    step: int
    run_dir: str
    node_id: str | None = None


@dataclass(frozen=True)
class RunResults:
    """``confusion[t][p]`` counts validation images of true class t predicted as p. Samples
    are uint8 images (a numpy N×C×H×W array: it pickles as plain bytes, where a tensor sent
    from a child process would need that process alive to be read), misclassified first
    (the most confident mistakes first)."""

    run_dir: str
    checkpoint: str
    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    accuracy: float
    images: Any  # numpy uint8 N×C×H×W
    truth: tuple[int, ...]
    predicted: tuple[int, ...]
    confidence: tuple[float, ...]

    @property
    def per_class_accuracy(self) -> tuple[float, ...]:
        return tuple(
            row[i] / total if (total := sum(row)) else 0.0 for i, row in enumerate(self.confusion)
        )


@dataclass(frozen=True)
class Status:
    """What the training process is doing before the first report (loading the data,
    building the model, the first step), for the window to show."""

    message: str
    #: progress of what it is doing, where it is measured (a download's megabytes)
    done: float = 0.0
    total: float = 0.0


Event = (
    RunStarted | StepReport | EpochReport | Paused | Resumed | Diverged | RunFinished | RunFailed
)


def event_dict(event: Event) -> dict[str, Any]:
    """JSON-ready form with the record's type name (for metrics logs)."""
    return {"event": type(event).__name__, **asdict(event)}


class RunControl:
    """Stop / pause / resume flags, safe to set from any thread; the loop honours them between
    steps."""

    def __init__(self, stop=None, go=None, lr_scale=None) -> None:
        """``stop``/``go`` may be ``multiprocessing`` events and ``lr_scale`` a
        ``multiprocessing.Value('d')``, to control a run in a child process."""
        self._scale = lr_scale if lr_scale is not None else _Box(1.0)
        self._stop = stop if stop is not None else threading.Event()
        if go is None:
            go = threading.Event()
            go.set()
        self._go = go

    def stop(self) -> None:
        self._stop.set()
        self._go.set()

    def pause(self) -> None:
        if not self._stop.is_set():
            self._go.clear()

    def resume(self) -> None:
        self._go.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def wait_until_resumed(self, timeout: float | None = None) -> bool:
        return self._go.wait(timeout)

    @property
    def lr_scale(self) -> float:
        """Factor on the scheduled learning rate, changeable mid-run (from the next step)."""
        return self._scale.value

    def set_lr_scale(self, factor: float) -> None:
        if not (factor > 0 and factor < float("inf")):
            raise ValueError(f"learning-rate factor must be positive and finite, not {factor}")
        self._scale.value = float(factor)


class _Box:
    """A plain holder with ``.value`` (what multiprocessing.Value offers across processes)."""

    def __init__(self, value: float) -> None:
        self.value = value
