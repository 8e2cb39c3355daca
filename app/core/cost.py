"""What a training run will cost before it starts: memory per node and in total, for a batch
size, an optimizer and a precision, from the shapes the shape pass already knows. No torch:
the window shows these figures live as the graph is edited.

Memory of a training step:

- **weights**: every parameter, plus BatchNorm's running statistics (buffers);
- **gradients**: one per trainable parameter;
- **optimizer state**: SGD with momentum keeps one buffer per parameter (none without),
  Adam/AdamW two moments (three with AMSGrad), RMSprop its square average (and a momentum
  buffer), Adagrad its sum; the adaptive ones also a 4-byte step count per tensor;
- **saved for backward**: the tensors autograd keeps from the forward pass until the
  backward pass uses them. Each block's rule says which: a convolution or a linear layer its
  input, ReLU/tanh/sigmoid/softmax their output, GELU/SiLU/ELU/LeakyReLU/ReLU6/hardswish their
  input, BatchNorm its input (and two per-channel vectors), max-pooling its input and the int64
  indices, dropout its mask, a product both factors; sums, concatenations and flattening keep
  nothing. A tensor kept by two layers (a ReLU's output and the next convolution's input) is
  one storage and counts once, as autograd keeps it once. Composite blocks are counted through
  their parts (``blocks.expansion``). Layers before the first trainable one keep nothing (no
  gradient flows there);
- **data**: the batch's images and targets.

The rules are checked against what autograd really saves (``saved_tensors_hooks``, unique
storages) for every preset in the tests.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from app.core.graph import Graph
from app.core.shapes import NodeInfo, ShapeReport, kept_on
from blocks.base import Shape
from blocks.expansion import INPUT, can_expand, expand

__all__ = [
    "NodeCost",
    "Profile",
    "TrainingCost",
    "available_memory",
    "bytes_text",
    "cached_calibration",
    "calibration_file",
    "cost_text",
    "memory_of",
    "optimizer_slots",
    "profile",
    "step_seconds",
    "training_cost",
]

#: bytes of an element by precision: parameters stay float32 under autocast
DTYPE_BYTES = {"none": 4, "bf16": 2, "fp16": 2}
#: activations that keep their output for backward; the others in ACTIVATIONS keep their input
KEEP_OUTPUT = frozenset({"relu", "tanh", "sigmoid", "softmax"})
ACTIVATIONS = KEEP_OUTPUT | {"leaky_relu", "elu", "gelu", "silu", "relu6", "hardswish",
                             "hardsigmoid"}  # fmt: skip
WEIGHTED = frozenset({"conv1d", "conv2d", "conv3d", "linear"})
NORMS = frozenset({"batchnorm1d", "batchnorm2d"})


class NodeCost(NamedTuple):
    """Bytes one node adds: its weights (and buffers), gradients, optimizer state, and the
    tensors first kept for backward at it."""

    weights: int = 0
    gradients: int = 0
    optimizer: int = 0
    saved: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.saved


@dataclass(frozen=True)
class TrainingCost:
    """A training step's memory at one batch size: per node and in total (bytes)."""

    batch: int
    optimizer: str
    amp: str
    nodes: dict[str, NodeCost]
    weights: int
    gradients: int
    optimizer_state: int
    saved: int
    data: int = 0  # the batch's inputs and targets
    largest_activation: int = 0  # bytes of the largest single output (a backward transient)

    @property
    def fixed(self) -> int:
        """What does not grow with the batch."""
        return self.weights + self.gradients + self.optimizer_state

    @property
    def peak(self) -> int:
        """The step's peak estimate: everything kept at the start of backward, plus the
        gradient of the largest activation being computed (about twice its size)."""
        return self.fixed + self.saved + self.data + 2 * self.largest_activation


def optimizer_slots(
    optimizer: str, momentum: float = 0.9, amsgrad: bool = False
) -> tuple[int, int]:
    """(state tensors per parameter as large as it, bytes of scalar state per tensor)."""
    if optimizer == "sgd":
        return (1 if momentum > 0 else 0), 0
    if optimizer in ("adam", "adamw"):
        return (3 if amsgrad else 2), 4
    if optimizer == "rmsprop":
        return (2 if momentum > 0 else 1), 4
    if optimizer == "adagrad":
        return 1, 4
    return 2, 4  # an optimizer registered later: assume Adam-like


class _Tape:
    """Entities are tensors (storages); ``save`` marks one as kept for backward."""

    def __init__(self) -> None:
        self.sizes: list[int] = []  # bytes per sample (or in all, for a constant)
        self.const: list[bool] = []  # the size does not grow with the batch
        self.grad: list[bool] = []
        self.saved: set[int] = set()
        self.full: set[int] = set()  # float32 tensors under autocast (the input images)

    def new(self, nbytes: int, grad: bool, const: bool = False) -> int:
        self.sizes.append(nbytes)
        self.const.append(const)
        self.grad.append(grad)
        return len(self.sizes) - 1

    def save(self, entity: int) -> None:
        self.saved.add(entity)


@dataclass
class _Params:
    elements: int = 0  # trainable parameter elements
    tensors: int = 0  # trainable parameter tensors
    frozen: int = 0  # frozen parameter elements
    buffers: int = 0  # buffer bytes


@dataclass(frozen=True)
class Profile:
    """A graph's costs as affine functions of the batch: each node's fixed bytes (weights,
    gradients, optimizer state) and its saved bytes per sample plus a constant. One pass
    over the graph gives the cost at any batch (:meth:`at`) and the largest batch."""

    optimizer: str
    amp: str
    fixed: dict[str, tuple[int, int, int]]  # node → (weights, gradients, optimizer state)
    saved: dict[str, tuple[int, int]]  # node → (bytes per sample, constant bytes)
    data_per_sample: int
    largest_per_sample: int
    #: (weights, gradients, optimizer state, saved per sample, saved constant) over all nodes
    totals: tuple[int, int, int, int, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.totals is None:
            fixed = tuple(sum(v[i] for v in self.fixed.values()) for i in range(3))
            saved = tuple(sum(v[i] for v in self.saved.values()) for i in range(2))
            object.__setattr__(self, "totals", fixed + saved)
        object.__setattr__(self, "_fixed", self.totals[:3])
        object.__setattr__(self, "_saved", self.totals[3:])

    def at(self, batch: int) -> TrainingCost:
        nodes = {
            nid: NodeCost(w, g, o, self.saved[nid][0] * batch + self.saved[nid][1])
            for nid, (w, g, o) in self.fixed.items()
        }
        return TrainingCost(
            batch, self.optimizer, self.amp, nodes, *self._fixed,
            self._saved[0] * batch + self._saved[1], self.data_per_sample * batch,
            self.largest_per_sample * batch,
        )  # fmt: skip

    def peak(self, batch: int) -> int:
        """The step's peak at ``batch`` (as :attr:`TrainingCost.peak`), without the nodes."""
        per_sample = self._saved[0] + self.data_per_sample + 2 * self.largest_per_sample
        return sum(self._fixed) + self._saved[1] + per_sample * batch

    def inference(self, batch: int) -> int:
        """Bytes of a forward pass without gradients: the weights, the batch, and the
        largest layer's input and output alive together (about twice the largest output)."""
        return self._fixed[0] + (self.data_per_sample + 2 * self.largest_per_sample) * batch

    def largest_batch(self, available: int) -> int:
        """The largest batch whose step's peak fits in ``available`` bytes (0: none)."""
        fixed = self.peak(0)
        per_sample = self.peak(1) - fixed
        if available < fixed + per_sample:
            return 0
        return int((available - fixed) // max(per_sample, 1))


def profile(
    graph: Graph,
    report: ShapeReport,
    *,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    amsgrad: bool = False,
    amp: str = "none",
    device: str = "cpu",
) -> Profile | None:
    """The graph's cost :class:`Profile`, or None while it has shape errors.

    Each node's rule runs once for what it depends on (its shape-pass result, params, whether
    it trains, whether its inputs need gradients or are the float32 images, the precision
    and the device) and leaves a :class:`_Recipe`; the pass then only adds the recipes up in
    topological order, counting a tensor kept by two nodes at the first. The recipes are kept
    on the graph, so after an edit only the nodes it changed run their rules again."""
    if not report.ok or report.input_id is None:
        return None
    act = DTYPE_BYTES.get(amp, 4)
    cuda = device.startswith("cuda")
    slots, scalar = optimizer_slots(optimizer, momentum, amsgrad)
    recipes = kept_on(graph, "cost").setdefault((act, cuda), {})
    nodes, infos, ports = graph.nodes, report.nodes, graph.port_table()
    if len(recipes) > 2 * len(nodes) + 64:  # forget the nodes deleted since
        for gone in [nid for nid in recipes if nid not in nodes]:
            del recipes[gone]
    # per node: its output tensor as (key of the tensor, bytes per sample, needs a gradient,
    # is the float32 images); a view (flatten) passes its input's on
    outputs: dict[str, tuple[str, int, bool, bool]] = {}
    kept: set[str] = set()  # keys of the tensors kept for backward so far
    fixed: dict[str, tuple[int, int, int]] = {}
    saved: dict[str, tuple[int, int]] = {}
    largest = weights = gradients = state = per_sample_total = constant_total = 0
    for nid in report.order:
        node, info = nodes[nid], infos[nid]
        if node.type_id == "input":
            outputs[nid] = (nid, math.prod(info.shape) * 4, False, True)
            fixed[nid], saved[nid] = (0, 0, 0), (0, 0)
            continue
        inputs = ports[nid]
        if len(inputs) == 1:  # the common case, without building tuples
            source = outputs[inputs[0]]
            sources = [source]
            flags: tuple[int, ...] | int = 2 * source[3] + source[2]
        else:
            sources = [outputs[s] for s in inputs if s is not None]
            flags = tuple(2 * s[3] + s[2] for s in sources)
        hit = recipes.get(nid)
        if (
            hit is not None
            and hit[0] is info
            and hit[1] is node.params
            and hit[2] is node.learning
            and hit[3] == flags
        ):
            recipe = hit[4]
        else:
            recipe = _recipe(node.type_id, node.params, info, flags, act,
                             node.learning.trainable, device)  # fmt: skip
            recipes[nid] = (info, node.params, node.learning, flags, recipe)
        per_sample = recipe.per_sample
        for i in recipe.saves:  # its inputs it keeps: counted where first kept
            key = sources[i][0]
            if key not in kept:
                kept.add(key)
                per_sample += sources[i][1]
        if recipe.alias >= 0:
            outputs[nid] = sources[recipe.alias]
        else:
            outputs[nid] = (nid, recipe.size, recipe.grad, False)
            if recipe.keeps_output:
                kept.add(nid)
        saved[nid] = (per_sample, recipe.constant)
        e = recipe.elements
        w, g, o = 4 * (e + recipe.frozen) + recipe.buffers, 4 * e, 4 * e * slots
        o += scalar * recipe.tensors
        fixed[nid] = (w, g, o)
        weights, gradients, state = weights + w, gradients + g, state + o
        per_sample_total += per_sample
        constant_total += recipe.constant
        largest = max(largest, recipe.largest)
    # cross-entropy keeps its log-softmax (batch × classes), the int64 targets and a scalar
    last = report.order[-1]
    classes = math.prod(infos[last].shape or (1,)) * 4 + 8
    saved[last] = (saved[last][0] + classes, saved[last][1] + 4)
    image = outputs[report.input_id]
    data = 8 + (0 if image[0] in kept else image[1])
    totals = (weights, gradients, state, per_sample_total + classes, constant_total + 4)
    return Profile(optimizer, amp, fixed, saved, data, largest, totals)


@dataclass(frozen=True)
class _Recipe:
    """What one node's rule leaves: the bytes it keeps itself (per sample and constant),
    which of its inputs it keeps, its output (a view of input ``alias``, or a new tensor of
    ``size`` bytes per sample that needs a gradient or not, and that it keeps itself or not),
    and its parameter counts."""

    per_sample: int
    constant: int
    saves: tuple[int, ...]
    alias: int
    size: int
    grad: bool
    keeps_output: bool
    largest: int  # bytes of its output (or of its largest part's, for a composite)
    elements: int
    tensors: int
    frozen: int
    buffers: int


def _recipe(
    type_id: str, params: dict, info: NodeInfo, flags: tuple[int, ...] | int,
    act: int, trains: bool, device: str,
) -> _Recipe:  # fmt: skip
    """Run a node's rule on stand-ins for its inputs (``flags``, one per input, or an int for
    one input: 1 needs a gradient, 2 is the float32 images) and read off its :class:`_Recipe`."""
    tape = _Tape()
    flags = (flags,) if isinstance(flags, int) else flags
    sources = [tape.new(0, bool(f & 1)) for f in flags]
    tape.full.update(s for s, f in zip(sources, flags, strict=True) if f & 2)
    p = _Params()
    if can_expand(type_id):
        out = _composite(tape, type_id, params, info.inputs[0], sources[0], act, trains, p,
                         device)  # fmt: skip
    else:
        out = _primitive(tape, type_id, params, list(info.inputs), info.shape, sources, act,
                         trains, p, info.params, device)  # fmt: skip
    k = len(sources)
    own = [e for e in tape.saved if e >= k]
    return _Recipe(
        sum(tape.sizes[e] for e in own if not tape.const[e]),
        sum(tape.sizes[e] for e in own if tape.const[e]),
        tuple(i for i in range(k) if i in tape.saved),
        out if out < k else -1,
        tape.sizes[out] if out >= k else 0,
        tape.grad[out],
        out >= k and out in tape.saved,
        math.prod(info.shape) * act,
        p.elements, p.tensors, p.frozen, p.buffers,
    )  # fmt: skip


def training_cost(graph: Graph, report: ShapeReport, batch: int, **options) -> TrainingCost | None:
    """The cost of one training step at ``batch``, or None while the graph has shape errors
    (options: those of :func:`profile`)."""
    found = profile(graph, report, **options)
    return found.at(batch) if found is not None else None


def _count(p: _Params, trains: bool, elements: int, tensors: int, buffers: int = 0) -> None:
    if trains:
        p.elements += elements
        p.tensors += tensors
    else:
        p.frozen += elements
    p.buffers += buffers


def _primitive(
    tape: _Tape, type_id: str, params: dict, inputs: list[Shape], shape: Shape,
    sources: list[int], act: int, trains: bool, p: _Params, n_params: int, device: str,
) -> int:  # fmt: skip
    """Apply one primitive block's rule (sizes per sample); returns its output entity."""
    n_out = math.prod(shape)
    grad_in = any(tape.grad[s] for s in sources)
    x = sources[0] if sources else None
    if type_id in WEIGHTED:
        bias = bool(params.get("bias", True))
        _count(p, trains, n_params, 2 if bias else 1)
        if act != 4 and x is not None and (trains or grad_in):
            # autocast: the layer keeps a low-precision copy of a float32 input (the images),
            # and one of its weights (a linear layer only when its input needs a gradient)
            kept = tape.new(math.prod(inputs[0]) * act, False) if x in tape.full else x
            if trains:
                tape.save(kept)
            if type_id != "linear" or grad_in:
                weight = n_params - (shape[0] if bias else 0)
                tape.save(tape.new(weight * act, False, const=True))
        elif trains and x is not None:
            tape.save(x)
        return tape.new(n_out * act, trains or grad_in)
    if type_id in NORMS:
        c = shape[0]
        _count(p, trains, 2 * c, 2, buffers=2 * 4 * c + 8)
        if (trains or grad_in) and x is not None:
            tape.save(x)
            tape.save(tape.new(2 * 4 * c, False, const=True))
        return tape.new(n_out * 4, trains or grad_in)
    if type_id in ACTIVATIONS:
        y = tape.new(n_out * act, grad_in)
        if grad_in:
            tape.save(y if type_id in KEEP_OUTPUT else x)
        return y
    if type_id == "maxpool2d":
        if grad_in:
            tape.save(x)
            tape.save(tape.new(n_out * 8, False))  # the int64 indices
        return tape.new(n_out * act, grad_in)
    if type_id == "avgpool2d":
        if grad_in:
            tape.save(x)
        return tape.new(n_out * act, grad_in)
    if type_id == "adaptive_avgpool2d":
        one = math.prod(shape[1:]) == 1  # to 1×1 it is a mean, which keeps nothing
        if grad_in and not one:
            tape.save(x)
        return tape.new(n_out * act, grad_in)
    if type_id == "global_avgpool":
        return tape.new(n_out * act, grad_in)
    if type_id in ("flatten", "output"):
        return x  # a view of its input
    if type_id == "dropout":
        y = tape.new(n_out * act, grad_in)
        if grad_in and params.get("p", 0.5) > 0:
            # the CPU keeps the scaled mask in the activations' dtype, CUDA a bool mask
            tape.save(tape.new(n_out * (1 if device.startswith("cuda") else act), False))
        return y
    if type_id == "dropout2d":
        y = tape.new(n_out * act, grad_in)
        if grad_in and params.get("p", 0.5) > 0:
            tape.save(tape.new(shape[0] * act, False))  # one noise per channel
        return y
    if type_id == "local_response_norm":
        if grad_in:
            size = params.get("size", 5)
            c, rest = shape[0], math.prod(shape[1:])
            tape.save(x)
            tape.save(tape.new((c + size - 1) * rest * act, False))
            tape.save(tape.new(n_out * act, False))
            y = tape.new(n_out * act, grad_in)
            tape.save(y)
            return y
        return tape.new(n_out * act, grad_in)
    if type_id == "multiply":
        if grad_in:
            for s in sources:
                tape.save(s)
        return tape.new(n_out * act, grad_in)
    if type_id in ("add", "concat"):
        return tape.new(n_out * act, grad_in)
    # an opaque module or a block without a rule: its weights, and its output as kept
    _count(p, trains, n_params, 1 if n_params else 0)
    y = tape.new(n_out * act, grad_in or trains)
    if grad_in or (trains and n_params):
        tape.save(y)
    return y


def _inferred_parts(type_id: str, params: dict, shape: Shape):
    """A composite block's primitive parts, each with its validated params, input shapes and
    inference (what both the memory rules and the step time walk)."""
    from blocks import REGISTRY

    shapes = {INPUT: shape}
    for part in expand(type_id, params, shape):
        block = REGISTRY.get(part.type_id)
        values = block.validate(part.params)
        ins = [shapes[i] for i in part.inputs]
        inference = block.infer(values, ins)
        shapes[part.name] = inference.shape
        yield part, values, ins, inference


def _composite(
    tape: _Tape, type_id: str, params: dict, shape: Shape, x: int, act: int, trains: bool,
    p: _Params, device: str,
) -> int:  # fmt: skip
    """A composite block through its primitive parts (their costs are the block's)."""
    entities = {INPUT: x}
    for part, values, ins, inference in _inferred_parts(type_id, params, shape):
        entities[part.name] = _primitive(
            tape, part.type_id, values, ins, inference.shape,
            [entities[i] for i in part.inputs], act, trains, p, inference.params, device,
        )  # fmt: skip
    return entities[part.name]


def available_memory() -> int | None:
    """Bytes of RAM available to a new process now (Linux: MemAvailable; elsewhere free
    pages), or None when the system does not say."""
    import os

    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_of(device: str) -> tuple[str, int | None]:
    """(the device a run of this setting uses, as far as the window can tell without torch;
    its free memory, or None when unknown). ``auto`` on a machine with an NVIDIA driver is a
    GPU, whose free memory only torch can ask: the last calibration of it says."""
    import os

    if device in ("cuda", "mps") or (device == "auto" and os.path.exists("/dev/nvidia0")):
        kind = "cuda" if device != "mps" else "mps"
        known = cached_calibration(kind)  # the GPU's free memory when it was measured
        return kind, (known or {}).get("memory_free")
    return "cpu", available_memory()


def bytes_text(n: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


def cost_text(cost: TrainingCost) -> str:
    """One line: the step's memory by kind, and its peak."""
    precision = {"none": "float32", "bf16": "bf16 autocast", "fp16": "fp16 autocast"}
    return (
        f"training step at batch {cost.batch} ({cost.optimizer}, "
        f"{precision.get(cost.amp, cost.amp)}): weights {bytes_text(cost.weights)}, gradients "
        f"{bytes_text(cost.gradients)}, optimizer {bytes_text(cost.optimizer_state)}, saved "
        f"for backward {bytes_text(cost.saved)}, data {bytes_text(cost.data)}; peak ≈ "
        f"{bytes_text(cost.peak)}"
    )


# ----------------------------------------------------------------------- step time
def calibration_file() -> Path:
    """Where :mod:`app.core.training.calibrate` keeps each device's measured speed."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("NetBuilder", appauthor=False)) / "calibration.json"


def cached_calibration(device: str, path: Path | None = None) -> dict | None:
    """The latest cached calibration of a device kind (``cpu``, ``cuda``…), without torch."""
    import json

    try:
        cache = json.loads((path or calibration_file()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = [v for v in cache.values() if str(v.get("device", "")).split(":")[0] == device]
    return max(found, key=lambda v: v.get("measured", "")) if found else None


#: how much slower than a ReLU of the same output each elementwise kind is, forward and
#: backward (a ReLU is what the calibration times)
_ELEMENTWISE = {
    "batchnorm1d": 2.0, "batchnorm2d": 2.0, "maxpool2d": 1.5, "avgpool2d": 1.2,
    "adaptive_avgpool2d": 1.0, "global_avgpool": 1.0, "dropout": 1.5, "dropout2d": 1.5,
    "add": 1.2, "multiply": 1.5, "concat": 1.0, "local_response_norm": 6.0, "softmax": 1.5,
}  # fmt: skip


def _throughput(points: list[list[float]], depth: float) -> float:
    """Log-log interpolation of (depth, FLOP/s), flat beyond the measured ends."""
    points = sorted(points)
    if depth <= points[0][0]:
        return points[0][1] * depth / points[0][0]  # shallow reductions: memory bound
    if depth >= points[-1][0]:
        return points[-1][1]
    for (d0, f0), (d1, f1) in itertools.pairwise(points):
        if d0 <= depth <= d1:
            t = (math.log(depth) - math.log(d0)) / (math.log(d1) - math.log(d0))
            return math.exp(math.log(f0) + t * (math.log(f1) - math.log(f0)))
    return points[-1][1]


def _narrow(points, channels: int) -> float:
    """The share of the throughput a convolution with this few output channels reaches."""
    points = sorted(points)
    if not points or channels >= points[-1][0]:
        return 1.0
    if channels <= points[0][0]:
        return points[0][1]
    for (c0, r0), (c1, r1) in itertools.pairwise(points):
        if c0 <= channels <= c1:
            return r0 + (r1 - r0) * (channels - c0) / (c1 - c0)
    return 1.0


def _primitive_parts(graph: Graph, report: ShapeReport):
    """(type_id, params, input shapes, output shape, parameters, MACs) of every primitive
    layer, composites through their parts."""
    for nid in report.order:
        node = graph.nodes[nid]
        info = report.nodes[nid]
        if not can_expand(node.type_id):
            yield node.type_id, node.params, info.inputs, info.shape, info.params, info.macs
            continue
        for part, values, ins, inf in _inferred_parts(node.type_id, node.params, info.inputs[0]):
            yield part.type_id, values, tuple(ins), inf.shape, inf.params, inf.macs


def step_seconds(
    graph: Graph, report: ShapeReport, batch: int, calibration: dict, optimizer: str = "sgd",
    momentum: float = 0.9, amsgrad: bool = False,
) -> float | None:  # fmt: skip
    """Seconds of one training step (forward, backward, update) predicted from per-layer
    MACs and memory traffic with the device's calibration; None while the graph has errors.
    A convolution runs at the throughput measured for its reduction depth C_in/groups·k²
    (but no faster than its memory traffic allows), a linear layer at the matrix-multiply
    throughput, pooling at its measured time per output value, the rest at the bandwidth
    measured for a ReLU, scaled by kind; each layer also pays the measured cost of a call."""
    if not report.ok:
        return None
    bandwidth, overhead = calibration["bandwidth"], calibration["overhead_s"]
    pool_rates = calibration.get("pool_s_per_out", {})  # absent from older calibrations
    seconds, params = 0.0, 0
    for type_id, values, ins, shape, n_params, macs in _primitive_parts(graph, report):
        params += n_params
        if type_id in ("input", "output", "flatten"):
            continue
        out = batch * math.prod(shape) * 4
        traffic = 5 * (out + sum(batch * math.prod(s) * 4 for s in ins)) / 2 / bandwidth
        if type_id in ("conv1d", "conv2d", "conv3d"):
            depth = macs / max(1, math.prod(shape))  # C_in/groups·k² per output value
            flops = _throughput(calibration["conv"], max(1, depth))
            flops *= _narrow(calibration.get("narrow", ()), shape[0])
            seconds += max(6 * macs * batch / flops, traffic) + 2 * overhead
        elif type_id == "linear":
            seconds += 6 * macs * batch / calibration["linear_flops"] + 2 * overhead
        elif type_id in pool_rates:  # measured per output value
            seconds += pool_rates[type_id] * batch * math.prod(shape) + overhead
        else:
            reads = 1.0
            if type_id in ("maxpool2d", "avgpool2d"):  # each output reads its window
                reads = max(1.0, values.get("kernel_size", 2) ** 2 / 4)
            seconds += _ELEMENTWISE.get(type_id, 1.0) * reads * 5 * out / bandwidth + overhead
    slots = optimizer_slots(optimizer, momentum, amsgrad)[0]
    # the update reads the weights, gradients and state and writes the weights and state
    seconds += (3 + 2 * slots) * 4 * params / bandwidth
    return seconds
