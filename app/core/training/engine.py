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

import io
import math
import random
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from app.core.compiler import compile_graph
from app.core.graph import Graph
from app.core.serialization import Project
from app.core.shapes import check
from app.core.torch_files import WeightsFileError, load_tensors
from app.core.training import distributed
from app.core.training.augment import Augmenter
from app.core.training.config import TrainConfig
from app.core.training.data import Data, DatasetError, load_data
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
from app.core.training.init import initialise
from app.core.training.optim import add_l1_gradient, build_optimizer, set_lr
from app.core.training.reporting import Interval, layer_norms, param_groups, weights_before
from app.core.training.rundir import RunDir, SilentRunDir, default_runs_root, new_run_dir
from app.core.training.schedules import build_schedule, cycle_ends

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
        self.model: nn.Module | None = None
        self.classes: int | None = None  # the dataset's, set by prepare()
        self.run_dir: RunDir | None = None
        self.history: list[EpochReport] = []

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
            distributed.teardown(getattr(self, "dist", distributed.DistInfo()))

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
            self.run_dir.log_event(event)
        return event

    # ------------------------------------------------------------------- setup
    def prepare(self) -> None:
        """Resolve the device, check the graph, load the data, build the model and optimizer
        (what :meth:`run` does first; diagnostics use it alone)."""
        c = self.config
        self.device = resolve_device(c.device)
        self.dist = distributed.setup(self.device.type == "cuda")
        if self.dist.active and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        report = check(self.graph)
        if not report.ok:
            raise TrainingFailure(
                "graph",
                "the network has errors: " + "; ".join(p.message for p in report.errors[:3]),
                report.errors[0].node_id,
            )
        in_shape = report.nodes[report.input_id].shape  # type: ignore[index]
        image_size = in_shape[1:] if in_shape and len(in_shape) == 3 else None
        try:
            self.data = self._data or load_data(c, self.device, image_size)
        except DatasetError as exc:
            raise TrainingFailure("data", str(exc)) from None
        info = self.data.info
        if tuple(info.shape) != tuple(in_shape or ()):
            raise TrainingFailure(
                "data",
                f"the network's input is {_txt(in_shape)} but {info.name} images are "
                f"{_txt(info.shape)}: set the Input node to {_txt(info.shape)}",
                report.input_id,
            )
        classes = len(info.classes)
        out_shape = report.output_shape or ()
        if len(out_shape) != 1 or out_shape[0] < classes:
            raise TrainingFailure(
                "data",
                f"the network outputs {_txt(report.output_shape)} but {info.name} has "
                f"{classes} classes: make the last layer output {classes} features",
                report.output_id,
            )
        #: outputs beyond the dataset's classes (an ImageNet head on 10 classes) are neither
        #: trained nor scored: every loss and accuracy uses the first ``classes`` outputs
        self.classes = classes
        torch.manual_seed(c.seed)
        model = compile_graph(self.graph, report).to(self.device)
        initialise(model, c)
        if c.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        forward: nn.Module = model
        if self.dist.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.forward = torch.compile(forward) if c.compile else forward
        self.opt = build_optimizer(model, c)
        world = self.dist.world
        self.batch_size = max(1, c.batch_size // world)  # config.batch_size is global
        self.drop_last = len(self.data.train) // world > self.batch_size
        self.spe = self.data.train.num_batches(self.batch_size, self.drop_last, world)
        self.total = c.epochs * self.spe
        self.schedule = build_schedule(c, self.spe)
        self.snapshot_steps = set(cycle_ends(c, self.spe)) if c.schedule == "cosine" else set()
        gen_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        self.aug_gen = torch.Generator(device=gen_device).manual_seed(c.seed + 1)
        self.aug_rng = random.Random(c.seed + 2)
        self.aug = Augmenter(c, info.mean, info.std, self.device, self.aug_gen, self.aug_rng)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=c.amp == "fp16" and self.device.type == "cuda"
        )
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c.amp)
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=dtype)) if dtype else None
        self.groups = param_groups(model)
        self.l1_params = [p for ps in self.groups.values() for p in ps if p.ndim > 1]
        self.num_params = sum(p.numel() for p in model.parameters())

    def prep(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised evaluation batch (no augmentation)."""
        x = self.aug.normalize(images)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    # -------------------------------------------------------------- checkpoints
    def _state(self, epoch: int, batch: int) -> dict[str, Any]:
        cuda = self.device.type == "cuda"
        return {
            "model": self.model.state_dict(),  # type: ignore[union-attr]
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "aug_gen": self.aug_gen.get_state(),
            "aug_rng": self.aug_rng.getstate(),
            "torch_rng": torch.get_rng_state(),  # dropout and other layers draw from these
            "cuda_rng": torch.cuda.get_rng_state(self.device) if cuda else None,
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
            return load_tensors(source, self.device, "checkpoint")
        except WeightsFileError as exc:
            raise TrainingFailure("checkpoint", str(exc)) from None

    def _restore(self, state: dict[str, Any]) -> tuple[int, int]:
        self.model.load_state_dict(state["model"])  # type: ignore[union-attr]
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        # generator states are CPU byte tensors (torch.load's map_location may have moved them)
        self.aug_gen.set_state(state["aug_gen"].cpu())
        if "aug_rng" in state:  # absent from checkpoints written before 2026-11
            self.aug_rng.setstate(state["aug_rng"])
            torch.set_rng_state(state["torch_rng"].cpu())
            if state["cuda_rng"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
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
        info = self.data.info
        started = RunStarted(
            str(self.run_dir.path),
            str(self.device),
            info.name,
            info.classes,
            info.shape,
            info.train_size,
            info.val_size,
            self.num_params,
            c.epochs,
            self.spe,
            self.total,
            self._step,
        )
        self.run_dir.log_event(started)
        self.run_dir.log(
            f"started on {self.device}: {info.name}, {self.num_params:,} parameters, "
            f"{c.epochs} epochs of {self.spe} steps"
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

    def _log(self, event: Event) -> Event:
        self.run_dir.log_event(event)  # type: ignore[union-attr]
        if isinstance(event, RunFinished):
            self.run_dir.log(  # type: ignore[union-attr]
                f"{event.reason} at step {event.step}: best validation accuracy "
                f"{event.best_val_acc:.4f} (epoch {event.best_epoch})"
            )
        return event

    def _epoch(self, epoch: int, skip: int) -> Iterator[Event]:
        c, ctl = self.config, self.control
        model = self.model
        assert model is not None
        order = torch.Generator().manual_seed(c.seed * 1_000_003 + epoch)
        if skip == 0:
            self._epoch_sums = [0.0, 0.0, 0.0]
        interval = Interval(torch.tensor(self._epoch_sums, device=self.device, dtype=torch.float64))
        t_epoch = time.perf_counter()
        classes = len(self.data.info.classes)
        model.train()
        batches = self.data.train.batches(
            self.batch_size,
            shuffle=True,
            generator=order,
            drop_last=self.drop_last,
            shard=(self.dist.rank, self.dist.world),
            start=skip,  # resumed mid-epoch: the batches before are not even loaded
        )
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
            lr = self.schedule(self._step) * ctl.lr_scale
            set_lr(self.opt, lr)
            x, y = self.aug.train(images, labels, classes)
            if c.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self.autocast() if self.autocast else nullcontext():
                out = self.forward(x)[:, : self.classes]
            loss = nn.functional.cross_entropy(out.float(), y, label_smoothing=c.label_smoothing)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            tick = (
                (self._step + 1) % c.report_every == 0
                or i == self.spe - 1
                or self._step == self._first_step
                # by time too (host clock, no sync), so a slow network reports every ~0.5 s;
                # not under DDP, where ranks must agree on the ticks without talking
                or (not self.dist.active and interval.age() >= REPORT_SECONDS)
            )
            norms = None
            if c.l1 or c.grad_clip or tick:
                self.scaler.unscale_(self.opt)
            if c.l1:
                add_l1_gradient(self.l1_params, c.l1)
            if c.grad_clip or tick:
                gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip or math.inf)
            if tick:
                before = weights_before(self.groups)
            self.scaler.step(self.opt)
            self.scaler.update()
            if tick:
                norms = layer_norms(self.groups, before, gnorm)
            truth = y if y.ndim == 1 else y.argmax(1)
            interval.add(self._step, lr, loss, (out.argmax(1) == truth).sum(), len(truth))
            self._step += 1
            if tick:
                self._last_x = x
                yield self._report(interval, epoch, norms)
                interval.clear()
        self._epoch_sums = interval.sums.tolist()
        return (yield from self._end_epoch(epoch, time.perf_counter() - t_epoch))

    def _report(self, interval: Interval, epoch: int, norms: torch.Tensor | None) -> StepReport:
        report = interval.report(
            self._step,
            epoch,
            self.total,
            self.groups,
            norms,
            lambda: first_nonfinite_layer(self.model, self._last_x),  # type: ignore[arg-type]
        )
        self.run_dir.log_event(report)  # type: ignore[union-attr]  (history: curves to overlay)
        return report

    def _end_epoch(self, epoch: int, epoch_time: float) -> Iterator[Event]:
        c = self.config
        loss_sum, correct, seen = self._epoch_sums
        val = evaluate(
            [self.model],
            self.data.val,
            self.prep,
            c.batch_size * 2,  # type: ignore
            tta=c.tta,
            autocast=self.autocast,
            classes=self.classes,
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
            self.opt.param_groups[0]["lr"],
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
                    "model": self.model.state_dict(),  # type: ignore
                    "epoch": epoch + 1,
                    "val_acc": val.acc,
                    "val_loss": val.loss,
                },
            )
        else:
            self._bad_epochs += 1
        if self._step - 1 in self.snapshot_steps:
            path = rd.save_snapshot(len(self._snapshots) + 1, self.model.state_dict())  # type: ignore
            if path is not None:
                self._snapshots.append(str(path))
        self._epoch_sums = [0.0, 0.0, 0.0]
        self._checkpoint("last", self._state(epoch + 1, 0))
        rd.log_event(report)
        yield report
        if c.early_stopping and self._bad_epochs >= c.early_stopping:
            if c.restore_best:
                if self.dist.main:
                    best = self._load(rd.checkpoint_path("best"))
                    self.model.load_state_dict(best["model"])  # type: ignore[union-attr]
                if self.dist.active:
                    distributed.broadcast_state(self.model)  # type: ignore[arg-type]
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
        return distributed.any_rank(self.control.stop_requested, self.device)

    def _finish(self, reason: str) -> RunFinished:
        in_sync = None
        if self.dist.active:
            in_sync = distributed.replicas_in_sync(self.model)  # type: ignore[arg-type]
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
            member = compile_graph(self.graph).to(self.device)
            member.load_state_dict(state.get("model", state))
            members.append(member)
        return evaluate(
            members,
            self.data.val,
            self.prep,
            self.batch_size * 2,
            tta=self.config.tta,
            autocast=self.autocast,
            classes=self.classes,
        )


def _txt(shape: tuple[int, ...] | None) -> str:
    return "×".join(map(str, shape)) if shape else "nothing"
