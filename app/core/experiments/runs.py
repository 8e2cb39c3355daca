"""A finished (or stopped) run as an experiment sees it: its settings, its graph, its epochs
and what a sweep wrote about it; and the metrics a sweep optimises and a comparison ranks.
Reading needs no torch (the window's comparison view uses it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.experiments.space import point_text
from app.core.serialization import Project, ProjectFileError, load
from app.core.training.events import EpochReport, RunFailed, RunFinished, StepReport
from app.core.training.rundir import RunDir

__all__ = ["METRICS", "Metric", "RunRecord", "epochs_to", "read_run", "smoothed"]


@dataclass(frozen=True)
class Metric:
    """A number summarising a run: ``of(epochs)``, better when higher (``maximize``) or
    lower; None when the run has no completed epoch."""

    name: str
    title: str
    direction: str  # "maximize" or "minimize"
    of: Callable[[Sequence[EpochReport]], float | None] = field(compare=False)
    percent: bool = False

    def __call__(self, epochs: Sequence[EpochReport]) -> float | None:
        return self.of(epochs) if epochs else None

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "best_val_acc", "best validation accuracy", "maximize",
            lambda e: max(r.val_acc for r in e), True,
        ),
        Metric(
            "final_val_acc", "final validation accuracy", "maximize",
            lambda e: e[-1].val_acc, True,
        ),
        Metric(
            "best_val_loss", "best validation loss", "minimize",
            lambda e: min(r.val_loss for r in e),
        ),
        Metric("final_train_loss", "final training loss", "minimize", lambda e: e[-1].train_loss),
    )
}  # fmt: skip


def epochs_to(epochs: Sequence[EpochReport], threshold: float) -> int | None:
    """The first epoch (1-based) whose validation accuracy reached ``threshold``; None when
    none did."""
    for report in epochs:
        if report.val_acc >= threshold:
            return report.epoch
    return None


def smoothed(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """An exponential moving average with TensorBoard's weight (0.9), debiased so the first
    steps are not pulled towards 0; NaN and inf are passed over (they stay as they were)."""
    out, average, norm = [], 0.0, 0.0
    for v in values:
        if v != v or v in (float("inf"), float("-inf")):
            out.append(v)
            continue
        average = weight * average + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(average / norm)
    return out


@dataclass(frozen=True)
class RunRecord:
    """One run folder, read. ``outcome``: ``completed``/``stopped``/``early_stopped`` (the
    engine's reason), ``failed``, or ``incomplete`` (still running, or killed)."""

    path: Path
    config: dict[str, Any]
    project: Project | None
    epochs: tuple[EpochReport, ...]
    outcome: str
    experiment: dict[str, Any]
    #: (step, training loss) of every step, in order (a resumed run's repeated steps: the last)
    steps: tuple[tuple[int, float], ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    def metric(self, name: str) -> float | None:
        return METRICS[name](self.epochs)

    def label(self) -> str:
        """Short: the sweep's point and seed when a sweep ran it, else the folder's name."""
        point = self.experiment.get("point")
        if isinstance(point, dict) and point:
            text = point_text(point)
            return f"{text} · seed {self.config.get('seed', '?')}"
        return self.name


def read_run(path: str | Path) -> RunRecord:
    """Read a run folder; raises ValueError naming the folder when it is not one."""
    run = RunDir(Path(path), create=False)
    config = run.config()
    if config is None or not run.project_file.exists():
        raise ValueError(f"{path}: not a run folder (no config.json and project.json)")
    try:
        project = load(run.project_file)
    except ProjectFileError:
        project = None
    epochs: list[EpochReport] = []
    losses: dict[int, float] = {}
    outcome = "incomplete"
    for event in run.events():
        if isinstance(event, StepReport):
            losses.update(zip(event.steps, event.losses, strict=False))
        elif isinstance(event, EpochReport):
            # a resumed run repeats no epoch, but a run continued after a crash may: keep the last
            epochs = [e for e in epochs if e.epoch < event.epoch]
            epochs.append(event)
        elif isinstance(event, RunFinished):
            outcome = event.reason
        elif isinstance(event, RunFailed):
            outcome = "failed"
    steps = tuple(sorted(losses.items()))
    return RunRecord(Path(path), config, project, tuple(epochs), outcome, run.experiment(), steps)
