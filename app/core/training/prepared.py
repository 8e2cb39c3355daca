"""A run set up and ready to step: the device, the data, the model and everything that trains
it, built once by :meth:`PreparedRun.build`. The training loop, the diagnostics (LR range
test, overfitting one batch) and the results all read it, and take their steps through
:meth:`PreparedRun.step`, so there is one training step."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from app.core.compiler import compile_graph
from app.core.graph import Graph
from app.core.shapes import check
from app.core.torch_files import WeightsFileError, load_tensors
from app.core.training.augment import Augmenter
from app.core.training.config import TrainConfig
from app.core.training.data import Data, DatasetError, load_data
from app.core.training.distributed import DistInfo
from app.core.training.errors import TrainingFailure
from app.core.training.freezing import Freezing, freeze, optimizer_groups
from app.core.training.init import initialise
from app.core.training.optim import add_l1_gradient, build_optimizer
from app.core.training.pretrained import Loaded, load_by_name, load_pretrained
from app.core.training.reporting import Groups, layer_norms, param_groups, weights_before
from app.core.training.schedules import Schedule, build_schedule, cycle_ends
from blocks import shape_text


@dataclass
class StepResult:
    """One optimiser step: the augmented inputs, the outputs (the dataset's classes only), the
    targets after augmentation (class indices, or soft targets with mixup), the loss, and at
    report ticks the per-layer gradient and update norms."""

    x: torch.Tensor
    out: torch.Tensor
    targets: torch.Tensor
    loss: torch.Tensor
    norms: torch.Tensor | None


@dataclass
class PreparedRun:
    config: TrainConfig
    device: torch.device
    dist: DistInfo
    data: Data
    #: the dataset's classes: outputs beyond them (an ImageNet head on 10 classes) are neither
    #: trained nor scored; every loss and accuracy uses the first ``classes`` outputs
    classes: int
    model: nn.Module
    forward: nn.Module  # the model, or its DDP / torch.compile wrapper
    opt: torch.optim.Optimizer
    batch_size: int  # per process (config.batch_size is global)
    drop_last: bool
    spe: int  # steps per epoch
    total: int  # steps of the whole run
    schedule: Schedule
    snapshot_steps: set[int]
    aug_gen: torch.Generator
    aug_rng: random.Random
    aug: Augmenter
    scaler: torch.amp.GradScaler
    autocast: Callable[[], AbstractContextManager] | None
    groups: Groups
    l1_params: list[torch.Tensor]
    num_params: int
    freezing: Freezing
    notes: tuple[str, ...] = ()  # how the weights started: "started from …; re-initialised: fc"

    @classmethod
    def build(
        cls,
        graph: Graph,
        c: TrainConfig,
        device: torch.device,
        dist: DistInfo,
        data: Data | None = None,
        *,
        starting: bool = True,
    ) -> PreparedRun:
        """Check the graph, load the data (unless given), build the model and optimizer.
        ``starting``: load the starting weights (pretrained, file); a resumed run does not,
        its checkpoint holds them."""
        report = check(graph)
        if not report.ok:
            raise TrainingFailure(
                "graph",
                "the network has errors: " + "; ".join(p.message for p in report.errors[:3]),
                report.errors[0].node_id,
            )
        in_shape = report.nodes[report.input_id].shape  # type: ignore[index]
        image_size = in_shape[1:] if in_shape and len(in_shape) == 3 else None
        try:
            data = data or load_data(c, device, image_size)
        except DatasetError as exc:
            raise TrainingFailure("data", str(exc)) from None
        info = data.info
        if tuple(info.shape) != tuple(in_shape or ()):
            raise TrainingFailure(
                "data",
                f"the network's input is {_shape(in_shape)} but {info.name} images are "
                f"{_shape(info.shape)}: set the Input node to {_shape(info.shape)}",
                report.input_id,
            )
        classes = len(info.classes)
        out_shape = report.output_shape or ()
        if len(out_shape) != 1 or out_shape[0] < classes:
            raise TrainingFailure(
                "data",
                f"the network outputs {_shape(report.output_shape)} but {info.name} has "
                f"{classes} classes: make the last layer output {classes} features",
                report.output_id,
            )
        torch.manual_seed(c.seed)
        model = compile_graph(graph, report).to(device)
        initialise(model, c)
        notes: list[str] = []
        if c.pretrained and starting:
            notes.append(load_pretrained(model, c.pretrained).message)
        if c.weights and starting:
            notes.append(load_start_weights(model, c.weights).message)
        freezing = freeze(model, graph)
        if freezing.nodes:
            notes.append(
                f"{freezing.frozen_params:,} parameters frozen in {len(freezing.nodes)} layers"
            )
        if c.channels_last:
            model = model.to(memory_format=torch.channels_last)
        forward: nn.Module = model
        if dist.active:
            ids = [device.index] if device.type == "cuda" else None
            forward = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        world = dist.world
        batch_size = max(1, c.batch_size // world)
        drop_last = len(data.train) // world > batch_size
        spe = data.train.num_batches(batch_size, drop_last, world)
        gen_device = device if device.type == "cuda" else torch.device("cpu")
        aug_gen = torch.Generator(device=gen_device).manual_seed(c.seed + 1)
        aug_rng = random.Random(c.seed + 2)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c.amp)
        groups = param_groups(model)
        return cls(
            config=c,
            device=device,
            dist=dist,
            data=data,
            classes=classes,
            model=model,
            forward=torch.compile(forward) if c.compile else forward,  # type: ignore[arg-type]
            opt=build_optimizer(model, c, optimizer_groups(model, graph)),
            batch_size=batch_size,
            drop_last=drop_last,
            spe=spe,
            total=c.epochs * spe,
            schedule=build_schedule(c, spe),
            snapshot_steps=set(cycle_ends(c, spe)) if c.schedule == "cosine" else set(),
            aug_gen=aug_gen,
            aug_rng=aug_rng,
            aug=Augmenter(c, info.mean, info.std, device, aug_gen, aug_rng),
            scaler=torch.amp.GradScaler(
                device.type, enabled=c.amp == "fp16" and device.type == "cuda"
            ),
            autocast=(lambda: torch.autocast(device.type, dtype=dtype)) if dtype else None,
            groups=groups,
            l1_params=[p for ps in groups.values() for p in ps if p.ndim > 1],
            num_params=sum(p.numel() for p in model.parameters()),
            freezing=freezing,
            notes=tuple(notes),
        )

    def epoch_batches(
        self, epoch: int, start: int = 0, shard: tuple[int, int] = (0, 1)
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The training batches of ``epoch`` in the run's order (a pure function of the seed
        and the epoch), from batch ``start`` on."""
        order = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return self.data.train.batches(
            self.batch_size,
            shuffle=True,
            generator=order,
            drop_last=self.drop_last,
            shard=shard,
            start=start,
        )

    def prep(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised evaluation batch (no augmentation)."""
        x = self.aug.normalize(images)
        return x.contiguous(memory_format=torch.channels_last) if self.config.channels_last else x

    def step(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        tick: Callable[[], bool] = lambda: False,
    ) -> StepResult:
        """Augment one batch, forward (under autocast), backward (through the fp16 scaler),
        add the L1 gradient, clip, and step the optimizer at its current learning rate.
        ``tick()``, asked after the backward pass: also measure the gradient and update norms
        per layer (a report)."""
        c = self.config
        x, y = self.aug.train(images, labels, self.classes)
        if c.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast() if self.autocast else nullcontext():
            out = self.forward(x)[:, : self.classes]
        loss = nn.functional.cross_entropy(out.float(), y, label_smoothing=c.label_smoothing)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        report = tick()
        if c.l1 or c.grad_clip or report:
            self.scaler.unscale_(self.opt)
        if c.l1:
            add_l1_gradient(self.l1_params, c.l1)
        gnorm = None
        if c.grad_clip or report:
            gnorm = nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip or math.inf)
        before = weights_before(self.groups) if report else None
        self.scaler.step(self.opt)
        self.scaler.update()
        norms = layer_norms(self.groups, before, gnorm) if before is not None else None  # type: ignore[arg-type]
        return StepResult(x, out, y, loss, norms)


def load_start_weights(model: nn.Module, path: str) -> Loaded:
    """Load the ``weights`` setting's file (a state dict or NetBuilder checkpoint) by name,
    as pretrained weights load: a classifier of another shape keeps its initialisation (and
    is named); a file of another network ends the run with the mismatches listed."""
    try:
        data = load_tensors(path)
    except WeightsFileError as exc:
        raise TrainingFailure("weights", str(exc)) from None
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise TrainingFailure("weights", f"{path} holds a {type(data).__name__}, not weights")
    return load_by_name(model, state, f"the weights in {path}")


def _shape(shape: tuple[int, ...] | None) -> str:
    return shape_text(shape) if shape else "nothing"
