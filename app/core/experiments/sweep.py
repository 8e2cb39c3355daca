"""Sweeps: many runs over a space of settings and block parameters, with Optuna as the engine.

Why Optuna: it keeps a study (every trial's parameters, state and value) in a storage that
several processes share (an embedded SQLite file here by default; a database URL or a journal
file for several machines), hands each worker a different trial, and brings model-based
search (TPE). NetBuilder adds what a study does not know: applying a point to the graph and
settings, the seeds of each point, and the run folders.

- ``grid`` and ``random`` are *designs*: every point is decided when the study is created and
  queued in the storage (``enqueue_trial``); a worker takes a queued trial atomically, so two
  workers never run the same point (Optuna's own GridSampler may, by its documentation, when
  workers race). A random design is drawn from ``sampler_seed``: the same sweep again draws the
  same points.
- ``tpe`` asks Optuna's TPE sampler for each trial, until ``trials`` have been started.

Stop ends a sweep after the current run; a trial stopped mid-way does not count: its point
is queued again (grid, random; TPE asks another), so running the sweep again finishes it.

Each trial trains ``seeds`` runs (the config's seed, +1, …); its value is the mean of the
metric over them. Every run is an ordinary run folder, with ``experiment.json`` naming the
sweep, the trial, the point and the seed.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.experiments.runs import METRICS
from app.core.experiments.space import Dimension, SweepError, apply_point, bind, grid_points
from app.core.experiments.stats import mean_interval
from app.core.serialization import Project
from app.core.training.config import TrainConfig
from app.core.training.events import EpochReport, RunControl, RunFailed, RunFinished, RunStarted
from app.core.training.paths import default_runs_root
from app.core.training.rundir import RunDir

__all__ = [
    "SAMPLERS",
    "SweepFinished",
    "SweepSpec",
    "SweepStarted",
    "TrialFinished",
    "TrialStarted",
    "default_storage",
    "run_sweep",
    "sweep_table",
]

SAMPLERS = ("grid", "random", "tpe")
#: seconds a worker that found the study waits for its creator to queue the design
DESIGN_WAIT_S = 60.0


@dataclass(frozen=True)
class SweepSpec:
    """A sweep, as plain values (it crosses to the training process and is stored in the
    study, so a second worker can check it joins the same sweep)."""

    params: tuple[str, ...]
    sampler: str = "grid"
    trials: int = 0  # random/tpe: how many points (grid: all of them)
    seeds: int = 1
    metric: str = "best_val_acc"
    name: str = ""
    storage: str = ""  # empty: sqlite under the runs folder
    sampler_seed: int = 0
    template: str = ""  # an experiment template's name: its variants are a dimension

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise SweepError(
                f"sampler: expected one of {', '.join(SAMPLERS)}, got {self.sampler!r}"
            )
        if self.metric not in METRICS:
            raise SweepError(f"metric: expected one of {', '.join(METRICS)}, got {self.metric!r}")
        if not 1 <= self.seeds <= 100:
            raise SweepError(f"seeds: expected 1 to 100, got {self.seeds}")
        if self.sampler != "grid" and self.trials < 1:
            raise SweepError(f"a {self.sampler} sweep needs a number of trials (--trials N)")
        object.__setattr__(self, "params", tuple(self.params))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["params"] = list(self.params)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SweepSpec:
        return cls(**{**values, "params": tuple(values.get("params", ()))})

    def dimensions(self, project: Project) -> tuple[Dimension, ...]:
        variants = None
        if self.template:
            from app.core.experiments.templates import template

            variants = template(self.template).variants
        dims = bind(self.params, project, variants)
        if self.seeds > 1 and any(d.name == "seed" for d in dims):
            raise SweepError("seed: sweep the seed or repeat each point over seeds, not both")
        return dims


# ------------------------------------------------------------------- records
@dataclass(frozen=True)
class SweepStarted:
    name: str
    storage: str
    sampler: str
    total: int  # points in this sweep
    dimensions: tuple[str, ...]  # each dimension, described
    metric: str
    seeds: int
    done: int = 0  # trials finished before this worker started (another worker, an earlier go)


@dataclass(frozen=True)
class TrialStarted:
    trial: int  # the study's trial number
    point: dict[str, Any]
    repeat: int  # 0-based index among the point's seeds
    seeds: int
    seed: int


@dataclass(frozen=True)
class TrialFinished:
    trial: int
    point: dict[str, Any]
    state: str  # complete, failed, stopped
    value: float | None  # the metric's mean over the seeds
    half: float | None  # its 95% interval's half-width (None for one seed)
    values: tuple[float, ...] = ()
    run_dirs: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class SweepFinished:
    name: str
    storage: str
    completed: int  # trials of the study that completed (all workers)
    best_trial: int | None
    best_value: float | None
    best_point: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False


SweepEvent = SweepStarted | TrialStarted | TrialFinished | SweepFinished


# ------------------------------------------------------------------- storage
def default_storage(runs_root: Path | None = None) -> str:
    """An SQLite file beside the runs: every sweep of this machine in one place."""
    root = Path(runs_root) if runs_root else default_runs_root()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'sweeps.db').resolve()}"


def open_storage(url: str):
    """``journal:PATH`` (an append-only file, safe for processes on one machine or a shared
    file system) or an SQLAlchemy URL (``sqlite:///file.db``, ``postgresql://…``)."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    # two workers creating the same new database race on its tables and its schema version
    # ("table … already exists", "UNIQUE constraint failed: alembic_version…", "database is
    # locked"): the loser tries again and finds the database made
    racing = ("already exists", "locked", "UNIQUE constraint", "IntegrityError")
    for attempt in range(6):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=None)
        except Exception as exc:  # sqlalchemy's OperationalError or IntegrityError
            if attempt == 5 or not any(text in f"{type(exc).__name__}: {exc}" for text in racing):
                raise SweepError(f"cannot open the sweep storage {url}: {exc}") from None
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _open_study(spec: SweepSpec, dims: tuple[Dimension, ...], storage_url: str, name: str):
    """Create the study (and queue its design), or join it when it exists with the same
    definition."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url)
    direction = METRICS[spec.metric].direction
    sampler = optuna.samplers.TPESampler(seed=None) if spec.sampler == "tpe" else None
    definition = {k: v for k, v in spec.to_dict().items() if k not in ("name", "storage")}
    try:
        study = optuna.create_study(
            storage=storage, study_name=name, direction=direction, sampler=sampler
        )
    except optuna.exceptions.DuplicatedStudyError:
        study = None
    if study is None:  # another worker (or an earlier go of this sweep) created it: join
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
        end = time.monotonic() + DESIGN_WAIT_S
        while "definition" not in study.user_attrs or (
            spec.sampler != "tpe" and not study.user_attrs.get("design_ready")
        ):
            if time.monotonic() > end:
                raise SweepError(f"sweep {name}: its creator never finished queueing its points")
            time.sleep(0.2)
        if study.user_attrs["definition"] != definition:
            raise SweepError(
                f"a sweep named {name!r} already exists in {storage_url} with another "
                "definition: give another --name"
            )
        return study
    study.set_user_attr("definition", definition)
    if spec.sampler != "tpe":
        for i, point in enumerate(design(spec, dims)):
            study.enqueue_trial(point, user_attrs={"design": i})
        study.set_user_attr("design_ready", True)
    return study


def design(spec: SweepSpec, dims: tuple[Dimension, ...]) -> list[dict[str, Any]]:
    """The points of a grid or random sweep, in the order they run."""
    if spec.sampler == "grid":
        points = grid_points(dims)
        return points[: spec.trials] if spec.trials else points
    rng = random.Random(spec.sampler_seed)
    return [{d.name: d.sample(rng) for d in dims} for _ in range(spec.trials)]


# -------------------------------------------------------------------- runner
def run_sweep(
    project: Project,
    config: TrainConfig,
    spec: SweepSpec,
    *,
    runs_root: Path | None = None,
    control: RunControl | None = None,
) -> Iterator[Any]:
    """Run the sweep's trials one after another (this worker's share when others run the same
    sweep), yielding sweep records and every run's own events. Raises :class:`SweepError`
    before the first run when the sweep cannot be defined."""
    control = control or RunControl()
    root = Path(runs_root) if runs_root else default_runs_root()
    dims = spec.dimensions(project)
    for point in design(spec, dims) if spec.sampler != "tpe" else ():
        apply_point(project, config, point, dims)  # every value applies, before any run
    from optuna.trial import TrialState  # seconds to import: after the checks

    from app.core.training.engine import Trainer

    url = spec.storage or default_storage(root)
    name = spec.name or f"{project.name or 'sweep'}-{time.strftime('%Y%m%d-%H%M%S')}"
    study = _open_study(spec, dims, url, name)
    total = len(design(spec, dims)) if spec.sampler != "tpe" else spec.trials
    finished = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    done = [t for t in study.get_trials(deepcopy=False, states=finished) if _counts(t)]
    yield SweepStarted(
        name, url, spec.sampler, total, tuple(d.text() for d in dims), spec.metric, spec.seeds,
        len(done),
    )  # fmt: skip
    metric = METRICS[spec.metric]
    stopped = False
    while not control.stop_requested:
        trial = _next_trial(study, spec)
        if trial is None:
            break
        point = {d.name: d.suggest(trial) for d in dims}
        try:
            trial_project, trial_config = apply_point(project, config, point, dims)
        except SweepError as exc:
            study.tell(trial, state=TrialState.FAIL)
            yield TrialFinished(trial.number, point, "failed", None, None, message=str(exc))
            continue
        values: list[float] = []
        run_dirs: list[str] = []
        problems: list[str] = []
        for repeat in range(spec.seeds):
            seed = trial_config.seed + repeat
            run_config = trial_config.replace(seed=seed)
            yield TrialStarted(trial.number, point, repeat, spec.seeds, seed)
            trainer = Trainer(
                trial_project.graph,
                run_config,
                name=f"{name}-t{trial.number}-s{seed}",
                runs_root=root,
                control=control,
            )
            epochs: list[EpochReport] = []
            end: RunFinished | RunFailed | None = None
            for event in trainer.run():
                if isinstance(event, RunStarted) and event.run_dir:  # (no folder: a DDP rank)
                    RunDir(Path(event.run_dir), create=False).write_experiment(
                        {"sweep": name, "storage": url, "trial": trial.number, "point": point,
                         "seed": seed, "repeat": repeat, "metric": spec.metric}
                    )  # fmt: skip
                    run_dirs.append(event.run_dir)
                elif isinstance(event, EpochReport):
                    epochs.append(event)
                elif isinstance(event, RunFinished | RunFailed):
                    end = event
                yield event
            if isinstance(end, RunFinished) and end.reason == "stopped":
                stopped = True
                break
            if isinstance(end, RunFailed):
                problems.append(f"seed {seed}: {end.message}")
            value = metric(epochs)
            if value is not None and value == value:  # a NaN loss leaves NaN metrics
                values.append(value)
        if stopped:  # its point runs again when the sweep goes on
            trial.set_user_attr("stopped", True)
            study.tell(trial, state=TrialState.FAIL)
            if spec.sampler != "tpe":
                study.enqueue_trial(trial.params, user_attrs={"design": trial.user_attrs["design"]})
            trial_state = "stopped"
        elif values:
            study.tell(trial, sum(values) / len(values))
            trial_state = "complete"
        else:
            study.tell(trial, state=TrialState.FAIL)
            trial_state = "failed"
        if trial_state == "complete":
            study.set_user_attr(f"runs_{trial.number}", run_dirs)
        iv = mean_interval(values) if values else None
        yield TrialFinished(
            trial.number, point, trial_state, iv.mean if iv else None, iv.half if iv else None,
            tuple(values), tuple(run_dirs), "; ".join(problems),
        )  # fmt: skip
        if stopped:
            break
    best = _best(study)
    yield SweepFinished(
        name, url, len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
        best.number if best else None, best.value if best else None,
        dict(best.params) if best else {}, stopped or control.stop_requested,
    )  # fmt: skip


def _next_trial(study, spec: SweepSpec):
    """A queued point (grid, random), or a new TPE trial while fewer than ``trials`` were
    started; None when the sweep has nothing left for this worker."""
    from optuna.trial import TrialState

    if spec.sampler == "tpe":
        if sum(map(_counts, study.get_trials(deepcopy=False))) >= spec.trials:
            return None
        return study.ask()
    if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return None
    trial = study.ask()  # takes a queued trial atomically, or makes a new one if none is left
    if "design" not in trial.user_attrs:  # another worker took the last one meanwhile
        with contextlib.suppress(Exception):
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL)
        return None
    return trial


def _counts(trial) -> bool:
    """Whether a stored trial is one of the sweep's points: not a worker's surplus ask, and
    not a run stopped mid-way (its point was queued again, or TPE asks another)."""
    return not (trial.user_attrs.get("surplus") or trial.user_attrs.get("stopped"))


def _best(study):
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    return study.best_trial


def sweep_table(name: str, storage: str) -> list[dict[str, Any]]:
    """Every trial of a stored sweep: number, state, point, value and its run folders."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    rows = []
    for t in study.get_trials(deepcopy=False):
        if not _counts(t):
            continue
        rows.append({
            "trial": t.number,
            "state": t.state.name.lower(),
            "point": dict(t.params),
            "value": t.value,
            "runs": study.user_attrs.get(f"runs_{t.number}", []),
        })  # fmt: skip
    return rows
