"""The training loop: one iterator of immutable events, consumed alike by the GUI's worker
thread, the CLI and tests.

Data order is a pure function of (seed, epoch) and the augmentation generator is saved in every
checkpoint, so a stopped run resumes exactly where it stopped. Metrics stay on the device until
a reporting tick, which makes one host sync. Failures never escape as exceptions: they end the
stream with a RunFailed record, and the run directory keeps the last good checkpoint. In an
interactive run (``pause_on_nonfinite``) a NaN/Inf loss does not end it: the weights go back
to the last good state and the run pauses until the user resumes (with a lower learning rate,
say) or stops it.
"""

from __future__ import annotations

import gc
import io
import math
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from app.core.compiler import compile_graph
from app.core.graph import Graph
from app.core.serialization import Project
from app.core.torch_files import WeightsFileError, load_tensors
from app.core.training import distributed
from app.core.training.config import TrainConfig
from app.core.training.data import Data
from app.core.training.errors import NonFiniteLoss, TrainingFailure
from app.core.training.evaluate import EvalResult, evaluate, first_nonfinite_layer
from app.core.training.events import (
    Diverged,
    EpochReport,
    Event,
    Paused,
    Resumed,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    StepReport,
)
from app.core.training.optim import scheduled_lr, set_lr
from app.core.training.prepared import PreparedRun
from app.core.training.reporting import Interval, activation_histograms
from app.core.training.rundir import RunDir, SilentRunDir, default_runs_root, new_run_dir

#: a report at least this often (seconds), besides every ``report_every`` steps
REPORT_SECONDS = 0.5


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA, then MPS, then CPU; an unavailable explicit choice is an error."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise TrainingFailure(
            "error", f"device {name!r} is not available on this machine: choose 'auto' or 'cpu'"
        )
    return torch.device(name)


class Trainer:
    """Trains ``graph`` with ``config``. Iterate :meth:`run` to drive it.

    ``run_dir`` resumes the run stored there (from its last checkpoint); otherwise a new run
    directory is made under ``runs_root``.
    """

    def __init__(
        self,
        graph: Graph,
        config: TrainConfig,
        *,
        name: str = "run",
        runs_root: Path | None = None,
        run_dir: Path | None = None,
        control: RunControl | None = None,
        data: Data | None = None,
        pause_on_nonfinite: bool = False,
    ) -> None:
        """``pause_on_nonfinite``: someone watches ``control`` and will resume or stop the run
        (the app); otherwise a NaN/Inf loss ends the run (the CLI, scripts)."""
        self.graph, self.config, self.name = graph, config, name
        self.control = control or RunControl()
        self.pause_on_nonfinite = pause_on_nonfinite
        self._initial: bytes | None = None  # the state at step 0, to go back to after a NaN
        self._runs_root = runs_root
        self._resume_dir = run_dir
        self._data = data
        self._prepared: PreparedRun | None = None
        self._last_x: torch.Tensor | None = None  # the last reported batch (NaN diagnosis)
        self.dist = distributed.DistInfo()
        self.run_dir: RunDir | None = None
        self.history: list[EpochReport] = []
        self._tensorboard = None  # the tensorboard setting's log, made with the first event

    # ------------------------------------------------------------------ public
    def run(self) -> Iterator[Event]:
        try:
            yield from self._run()
        except GeneratorExit:
            raise
        except TrainingFailure as exc:
            yield self._failed(exc.kind, str(exc), exc.node_id)
        except torch.OutOfMemoryError:
            bs = self.config.batch_size
            yield self._failed(
                "oom",
                f"out of memory at batch size {bs}: try batch size "
                f"{max(1, bs // 2)}, mixed precision (amp=bf16) or a "
                "smaller network",
            )
        except Exception as exc:  # never crash the caller: report and keep the run directory
            if self.run_dir:
                self.run_dir.log(traceback.format_exc())
            yield self._failed("error", f"{type(exc).__name__}: {exc}")
        finally:
            if self.dist.active and self._prepared is not None:
                # drop the DDP wrapper (its reducer holds the process group) and collect it
                # now: left to interpreter shutdown, gloo's threads can be destroyed while
                # still joinable, and the process aborts ("terminate called ...")
                self._prepared.forward = self._prepared.model
                gc.collect()
            distributed.teardown(self.dist)

    def _failed(self, kind: str, message: str, node_id: str | None = None) -> RunFailed:
        event = RunFailed(
            kind,
            message,
            getattr(self, "_step", 0),
            str(self.run_dir.path) if self.run_dir else "",
            node_id,
        )
        if self.run_dir:
            self.run_dir.log(f"FAILED ({kind}): {message}")
            self._record(event)  # closes the TensorBoard log
        return event

    # ------------------------------------------------------------------- setup
    @property
    def p(self) -> PreparedRun:
        """The prepared run (after :meth:`prepare`)."""
        if self._prepared is None:
            raise RuntimeError("the run is not prepared: call prepare() first")
        return self._prepared

    @property
    def model(self) -> nn.Module | None:
        return self._prepared.model if self._prepared else None

    def prepare(self) -> None:
        """Resolve the device, check the graph, load the data, build the model and optimizer
        (what :meth:`run` does first; diagnostics use it alone)."""
        device = resolve_device(self.config.device)
        self.dist = distributed.setup(device.type == "cuda")
        if self.dist.active and device.type == "cuda":
            device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(device)
        self._prepared = PreparedRun.build(
            self.graph,
            self.config,
            device,
            self.dist,
            self._data,
            starting=self._resume_dir is None,
        )

    # -------------------------------------------------------------- checkpoints
    def _state(self, epoch: int, batch: int) -> dict[str, Any]:
        cuda = self.p.device.type == "cuda"
        return {
            "model": self.p.model.state_dict(),
            "optimizer": self.p.opt.state_dict(),
            "scaler": self.p.scaler.state_dict(),
            "aug_gen": self.p.aug_gen.get_state(),
            "aug_rng": self.p.aug_rng.getstate(),
            "torch_rng": torch.get_rng_state(),  # dropout and other layers draw from these
            "cuda_rng": torch.cuda.get_rng_state(self.p.device) if cuda else None,
            "step": self._step,
            "epoch": epoch,
            "batch": batch,
            "epoch_sums": [float(v) for v in self._epoch_sums],
            "history": [e.__dict__ for e in self.history],
            "best": self._best,
            "bad_epochs": self._bad_epochs,
            "snapshots": self._snapshots,
            "config": self.config.to_dict(),
        }

    def _load(self, source: str | Path | io.BytesIO) -> Any:
        """A checkpoint, loaded without running code from the file (see torch_files)."""
        try:
            return load_tensors(source, self.p.device, "checkpoint")
        except WeightsFileError as exc:
            raise TrainingFailure("checkpoint", str(exc)) from None

    def _restore(self, state: dict[str, Any]) -> tuple[int, int]:
        self.p.model.load_state_dict(state["model"])
        self.p.opt.load_state_dict(state["optimizer"])
        self.p.scaler.load_state_dict(state["scaler"])
        # generator states are CPU byte tensors (torch.load's map_location may have moved them)
        self.p.aug_gen.set_state(state["aug_gen"].cpu())
        if "aug_rng" in state:  # absent from checkpoints written before 2026-11
            self.p.aug_rng.setstate(state["aug_rng"])
            torch.set_rng_state(state["torch_rng"].cpu())
            if state["cuda_rng"] is not None and self.p.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.p.device)
        self._step = state["step"]
        self._epoch_sums = list(state["epoch_sums"])
        self.history = [EpochReport(**e) for e in state["history"]]
        self._best, self._bad_epochs = state["best"], state["bad_epochs"]
        self._snapshots = list(state["snapshots"])
        return state["epoch"], state["batch"]

    # --------------------------------------------------------------------- loop
    def _run(self) -> Iterator[Event]:
        self._step = 0
        self.prepare()
        c = self.config
        self._best: dict[str, Any] = {"epoch": 0, "val_acc": 0.0, "val_loss": math.inf}
        self._bad_epochs = 0
        self._snapshots: list[str] = []
        self._epoch_sums = [0.0, 0.0, 0.0]  # loss sum, correct, seen
        start_epoch, start_batch = 0, 0
        if self._resume_dir is not None:
            self.run_dir = RunDir(Path(self._resume_dir))
            path = self.run_dir.checkpoint_path("last")
            if not path.exists():
                raise TrainingFailure("checkpoint", f"no checkpoint to resume in {path.parent}")
            start_epoch, start_batch = self._restore(self._load(path))
            self.run_dir.log(f"resumed at step {self._step}")
        elif self.dist.main:
            self.run_dir = RunDir(new_run_dir(self._runs_root or default_runs_root(), self.name))
            self.run_dir.write_setup(Project(self.graph, self.name), c)
        else:
            self.run_dir = SilentRunDir()
        if self.pause_on_nonfinite and self._resume_dir is None:
            self._initial = self._serialise(self._state(0, 0))
        self._first_step = self._step  # reported at once: a slow network shows life at once
        info = self.p.data.info
        started = RunStarted(
            str(self.run_dir.path),
            str(self.p.device),
            info.name,
            info.classes,
            info.shape,
            info.train_size,
            info.val_size,
            self.p.num_params,
            c.epochs,
            self.p.spe,
            self.p.total,
            self._step,
            info.mean,
            info.std,
            self.p.notes,
        )
        self._record(started)
        self.run_dir.log(
            f"started on {self.p.device}: {info.name}, {self.p.num_params:,} parameters, "
            f"{c.epochs} epochs of {self.p.spe} steps"
            + "".join(f"; {note}" for note in self.p.notes)
        )
        yield started
        epoch, batch = start_epoch, start_batch
        while epoch < c.epochs:
            try:
                result = yield from self._epoch(epoch, batch)
            except NonFiniteLoss as bad:
                if not self.pause_on_nonfinite or self.dist.active:
                    kept = (
                        f"the checkpoint of epoch {len(self.history)} is kept"
                        if self.history
                        else "no epoch had completed, so there is no checkpoint"
                    )
                    raise TrainingFailure(
                        "nan",
                        f"{bad}. Lower the learning rate, add gradient clipping or BatchNorm; "
                        f"{kept}",
                        bad.node_id,
                    ) from None
                epoch, batch = yield from self._diverged(bad)
                if self.control.stop_requested:
                    yield self._log(self._finish("stopped"))
                    return
                continue
            if result is not None:
                yield self._log(result)
                return
            epoch, batch = epoch + 1, 0
        yield self._log(self._finish("completed"))

    def _diverged(self, bad: NonFiniteLoss) -> Iterator[Event]:
        """Go back to the last good state, pause, and wait for the user; returns the
        (epoch, batch) to continue from. A stop keeps the good state as the last checkpoint."""
        rd = self.run_dir
        assert rd is not None
        path = rd.checkpoint_path("last")
        if path.exists():  # written at each epoch's end (and a resumed run started from it)
            state = self._load(path)
            back_to = f"the checkpoint of epoch {state['epoch']}, step {state['step']}"
        else:
            assert self._initial is not None
            state = self._load(io.BytesIO(self._initial))
            back_to = "the start (no epoch had completed)"
        epoch, batch = self._restore(state)
        self.control.pause()
        event = Diverged(
            bad.step,
            bad.epoch,
            bad.lr,
            bad.loss,
            bad.node_id,
            f"{bad}. The weights went back to {back_to}. Lower the learning rate (or add "
            "gradient clipping or BatchNorm), then Resume; or Stop",
            self._step,
        )
        rd.log(f"DIVERGED: {event.message}")
        yield self._log(event)
        yield Paused(self._step)
        self.control.wait_until_resumed()
        if self.control.stop_requested:
            self._checkpoint("last", self._state(epoch, batch))
        else:
            rd.log(f"resumed after the divergence at step {self._step}")
            yield self._log(Resumed(self._step))  # logged: the curves drop the bad steps
        return epoch, batch

    @staticmethod
    def _serialise(state: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def _record(self, event: Event) -> None:
        """Write an event to the run folder (and to the TensorBoard log when it is on)."""
        self.run_dir.log_event(event)  # type: ignore[union-attr]
        if self.config.tensorboard and not isinstance(self.run_dir, SilentRunDir):
            if self._tensorboard is None:
                from app.core.training.tensorboard_log import TensorBoardLog

                self._tensorboard = TensorBoardLog(self.run_dir.path)  # type: ignore[union-attr]
            self._tensorboard.add(event)

    def _log(self, event: Event) -> Event:
        self._record(event)
        if isinstance(event, RunFinished):
            self.run_dir.log(  # type: ignore[union-attr]
                f"{event.reason} at step {event.step}: best validation accuracy "
                f"{event.best_val_acc:.4f} (epoch {event.best_epoch})"
            )
        return event

    def _epoch(self, epoch: int, skip: int) -> Iterator[Event]:
        c, ctl = self.config, self.control
        model = self.p.model
        if skip == 0:
            self._epoch_sums = [0.0, 0.0, 0.0]
        interval = Interval(
            torch.tensor(self._epoch_sums, device=self.p.device, dtype=torch.float64)
        )
        t_epoch = time.perf_counter()
        self.p.freezing.train_mode(model)
        # resumed mid-epoch: the batches before ``skip`` are not even loaded
        batches = self.p.epoch_batches(epoch, skip, (self.dist.rank, self.dist.world))
        for i, (images, labels) in enumerate(batches, start=skip):
            if ctl.paused and not ctl.stop_requested:
                paused = time.perf_counter()
                yield Paused(self._step)
                ctl.wait_until_resumed()
                interval.exclude(time.perf_counter() - paused)  # images/s counts training only
                yield Resumed(self._step)
            if self._should_stop():
                if interval:
                    yield self._report(interval, epoch, None)
                self._epoch_sums = interval.sums.tolist()
                self._checkpoint("last", self._state(epoch, i))
                return self._finish("stopped")
            lr = self.p.schedule(self._step) * ctl.lr_scale
            set_lr(self.p.opt, lr)

            def tick(i: int = i) -> bool:  # asked after the backward pass, as the clock runs
                return (
                    (self._step + 1) % c.report_every == 0
                    or i == self.p.spe - 1
                    or self._step == self._first_step
                    # by time too (host clock, no sync), so a slow network reports every
                    # ~0.5 s; not under DDP, where ranks must agree on the ticks without talking
                    or (not self.dist.active and interval.age() >= REPORT_SECONDS)
                )

            step = self.p.step(images, labels, tick=tick)
            y = step.targets
            truth = y if y.ndim == 1 else y.argmax(1)
            interval.add(self._step, lr, step.loss, (step.out.argmax(1) == truth).sum(), len(truth))
            self._step += 1
            if step.norms is not None:
                self._last_x = step.x
                hists = None
                if c.activation_histograms:  # one extra forward pass, evaluation mode
                    hists = activation_histograms(self.p.model, list(self.p.groups), step.x)
                    self.p.freezing.train_mode(model)
                yield self._report(interval, epoch, step.norms, hists)
                interval.clear()
        self._epoch_sums = interval.sums.tolist()
        return (yield from self._end_epoch(epoch, time.perf_counter() - t_epoch))

    def _report(
        self,
        interval: Interval,
        epoch: int,
        norms: torch.Tensor | None,
        histograms: torch.Tensor | None = None,
    ) -> StepReport:
        report = interval.report(
            self._step,
            epoch,
            self.p.total,
            self.p.groups,
            norms,
            lambda: first_nonfinite_layer(self.p.model, self._last_x),
            histograms,
        )
        self._record(report)  # (history: curves to overlay)
        return report

    def _end_epoch(self, epoch: int, epoch_time: float) -> Iterator[Event]:
        c = self.config
        loss_sum, correct, seen = self._epoch_sums
        val = evaluate(
            [self.p.model],
            self.p.data.val,
            self.p.prep,
            c.batch_size * 2,
            tta=c.tta,
            autocast=self.p.autocast,
            classes=self.p.classes,
        )
        metric = val.acc if c.monitor == "val_acc" else -val.loss
        best_metric = self._best["val_acc"] if c.monitor == "val_acc" else -self._best["val_loss"]
        improved = not self.history or metric > best_metric
        report = EpochReport(
            epoch + 1,
            self._step,
            loss_sum / max(seen, 1),
            correct / max(seen, 1),
            val.loss,
            val.acc,
            val.top5,
            scheduled_lr(self.p.opt),
            epoch_time,
            seen / max(epoch_time, 1e-9),
            (c.epochs - epoch - 1) * epoch_time,
            improved,
        )
        self.history.append(report)
        rd = self.run_dir
        assert rd is not None
        if improved:
            self._best = {"epoch": epoch + 1, "val_acc": val.acc, "val_loss": val.loss}
            self._bad_epochs = 0
            self._checkpoint(
                "best",
                {
                    "model": self.p.model.state_dict(),
                    "epoch": epoch + 1,
                    "val_acc": val.acc,
                    "val_loss": val.loss,
                },
            )
        else:
            self._bad_epochs += 1
        if self._step - 1 in self.p.snapshot_steps:
            path = rd.save_snapshot(len(self._snapshots) + 1, self.p.model.state_dict())
            if path is not None:
                self._snapshots.append(str(path))
        self._epoch_sums = [0.0, 0.0, 0.0]
        self._checkpoint("last", self._state(epoch + 1, 0))
        self._record(report)
        yield report
        if c.early_stopping and self._bad_epochs >= c.early_stopping:
            if c.restore_best:
                if self.dist.main:
                    best = self._load(rd.checkpoint_path("best"))
                    self.p.model.load_state_dict(best["model"])
                if self.dist.active:
                    distributed.broadcast_state(self.p.model)
            return self._finish("early_stopped")
        return None

    def _checkpoint(self, name: str, state: dict[str, Any]) -> None:
        """Write a checkpoint atomically; a failure (disk full, permissions) ends the run with a
        clear message, and the previous checkpoint of that name is left intact."""
        try:
            self.run_dir.save_checkpoint(name, state)  # type: ignore[union-attr]
        except OSError as exc:
            raise TrainingFailure(
                "checkpoint",
                f"could not write the {name} checkpoint ({exc.strerror or exc}); the previous "
                f"one is kept: free some disk space, then resume the run",
            ) from exc

    def _should_stop(self) -> bool:
        """Single process: the stop flag. Under DDP the ranks vote at report ticks, so all stop
        at the same step (a rank leaving alone would hang the others' all-reduce)."""
        if not self.dist.active:
            return self.control.stop_requested
        if self._step % self.config.report_every:
            return False
        return distributed.any_rank(self.control.stop_requested, self.p.device)

    def _finish(self, reason: str) -> RunFinished:
        in_sync = None
        if self.dist.active:
            in_sync = distributed.replicas_in_sync(self.p.model)
            self.run_dir.log(  # type: ignore[union-attr]
                f"{self.dist.world} ranks: replicas {'identical' if in_sync else 'DIVERGED'}"
            )
        ensemble = None
        if self._snapshots and reason == "completed":
            ensemble = self.evaluate_ensemble(self._snapshots).acc
        return RunFinished(
            reason,
            self._step,
            len(self.history),
            self._best["epoch"],
            self._best["val_acc"],
            self._best["val_loss"],
            str(self.run_dir.path) if self.run_dir else "",
            ensemble,
            self.dist.world,
            in_sync,
        )

    def evaluate_ensemble(self, paths: Sequence[str | Path]) -> EvalResult:
        """Validation metrics of the averaged softmax of saved weights (snapshots or
        checkpoints of this graph). Needs :meth:`prepare` (or a run) first."""
        members = []
        for path in paths:
            state = self._load(path)
            if not isinstance(state, dict):
                raise TrainingFailure("checkpoint", f"{path} holds no weights")
            member = compile_graph(self.graph).to(self.p.device)
            member.load_state_dict(state.get("model", state))
            members.append(member)
        return evaluate(
            members,
            self.p.data.val,
            self.p.prep,
            self.p.batch_size * 2,
            tta=self.config.tta,
            autocast=self.p.autocast,
            classes=self.p.classes,
        )
