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

import math
from dataclasses import dataclass, field

from app.core.graph import Graph
from app.core.shapes import ShapeReport
from blocks.base import Shape
from blocks.expansion import INPUT, can_expand, expand

__all__ = ["NodeCost", "TrainingCost", "optimizer_slots", "training_cost"]

#: bytes of an element by precision: parameters stay float32 under autocast
DTYPE_BYTES = {"none": 4, "bf16": 2, "fp16": 2}
#: activations that keep their output for backward; the others in ACTIVATIONS keep their input
KEEP_OUTPUT = frozenset({"relu", "tanh", "sigmoid", "softmax"})
ACTIVATIONS = KEEP_OUTPUT | {"leaky_relu", "elu", "gelu", "silu", "relu6", "hardswish",
                             "hardsigmoid"}  # fmt: skip
WEIGHTED = frozenset({"conv1d", "conv2d", "conv3d", "linear"})
NORMS = frozenset({"batchnorm1d", "batchnorm2d"})


@dataclass(frozen=True)
class NodeCost:
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
    batch: int
    optimizer: str
    amp: str
    nodes: dict[str, NodeCost] = field(default_factory=dict)
    data: int = 0  # the batch's inputs and targets
    largest_activation: int = 0  # bytes of the largest single output (a backward transient)

    def _sum(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.nodes.values())

    @property
    def weights(self) -> int:
        return self._sum("weights")

    @property
    def gradients(self) -> int:
        return self._sum("gradients")

    @property
    def optimizer_state(self) -> int:
        return self._sum("optimizer")

    @property
    def saved(self) -> int:
        return self._sum("saved")

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
    """Entities are tensors (storages); ``save`` marks one as kept for backward, once."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.grad: list[bool] = []
        self.saved: set[int] = set()
        self.owner: dict[int, str] = {}

    def new(self, nbytes: int, grad: bool) -> int:
        self.sizes.append(nbytes)
        self.grad.append(grad)
        return len(self.sizes) - 1

    def save(self, entity: int, node: str) -> None:
        if entity not in self.saved:
            self.saved.add(entity)
            self.owner[entity] = node


@dataclass
class _Params:
    elements: int = 0  # trainable parameter elements
    tensors: int = 0  # trainable parameter tensors
    frozen: int = 0  # frozen parameter elements
    buffers: int = 0  # buffer bytes


def training_cost(
    graph: Graph,
    report: ShapeReport,
    batch: int,
    *,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    amsgrad: bool = False,
    amp: str = "none",
    device: str = "cpu",
) -> TrainingCost | None:
    """The cost of one training step, or None while the graph has shape errors."""
    if not report.ok or report.input_id is None:
        return None
    act = DTYPE_BYTES.get(amp, 4)
    tape = _Tape()
    out: dict[str, int] = {}
    params: dict[str, _Params] = {}
    largest = 0
    slots, scalar = optimizer_slots(optimizer, momentum, amsgrad)
    for nid in report.order:
        node = graph.node(nid)
        info = report.nodes[nid]
        trains = node.learning.trainable
        sources = [out[s] for s in graph.inputs_of(nid) if s is not None]
        shape = info.shape
        assert shape is not None
        p = params.setdefault(nid, _Params())
        if node.type_id == "input":
            out[nid] = tape.new(batch * math.prod(shape) * 4, False)
            continue
        if can_expand(node.type_id):
            out[nid] = _composite(tape, nid, node.type_id, node.params, info.inputs[0],
                                  sources[0], batch, act, trains, p, device)  # fmt: skip
        else:
            out[nid] = _primitive(tape, nid, node.type_id, node.params, list(info.inputs), shape,
                                  sources, batch, act, trains, p, info.params, device)  # fmt: skip
        largest = max(largest, batch * math.prod(shape) * act)
    classes = report.nodes[report.order[-1]].shape or (1,)
    # cross-entropy keeps its log-softmax (batch × classes) and the int64 targets
    loss = batch * math.prod(classes) * 4 + batch * 8 + 4
    costs: dict[str, NodeCost] = {}
    saved_by: dict[str, int] = {}
    for entity, nid in tape.owner.items():
        saved_by[nid] = saved_by.get(nid, 0) + tape.sizes[entity]
    for nid, p in params.items():
        costs[nid] = NodeCost(
            weights=4 * (p.elements + p.frozen) + p.buffers,
            gradients=4 * p.elements,
            optimizer=4 * p.elements * slots + scalar * p.tensors,
            saved=saved_by.get(nid, 0),
        )
    input_bytes = tape.sizes[out[report.input_id]]
    data = batch * 8 + (0 if out[report.input_id] in tape.saved else input_bytes)
    last = report.order[-1]
    costs[last] = NodeCost(**{**costs[last].__dict__, "saved": costs[last].saved + loss})
    return TrainingCost(batch, optimizer, amp, costs, data, largest)


def _count(p: _Params, trains: bool, elements: int, tensors: int, buffers: int = 0) -> None:
    if trains:
        p.elements += elements
        p.tensors += tensors
    else:
        p.frozen += elements
    p.buffers += buffers


def _primitive(
    tape: _Tape, nid: str, type_id: str, params: dict, inputs: list[Shape], shape: Shape,
    sources: list[int], batch: int, act: int, trains: bool, p: _Params, n_params: int,
    device: str,
) -> int:  # fmt: skip
    """Apply one primitive block's rule; returns its output entity."""
    n_out = batch * math.prod(shape)
    grad_in = any(tape.grad[s] for s in sources)
    x = sources[0] if sources else None
    if type_id in WEIGHTED:
        bias = bool(params.get("bias", True))
        _count(p, trains, n_params, 2 if bias else 1)
        if trains and x is not None:
            tape.save(x, nid)
        return tape.new(n_out * act, trains or grad_in)
    if type_id in NORMS:
        c = shape[0]
        _count(p, trains, 2 * c, 2, buffers=2 * 4 * c + 8)
        if (trains or grad_in) and x is not None:
            tape.save(x, nid)
            tape.save(tape.new(2 * 4 * c, False), nid)
        return tape.new(n_out * 4, trains or grad_in)
    if type_id in ACTIVATIONS:
        y = tape.new(n_out * act, grad_in)
        if grad_in:
            tape.save(y if type_id in KEEP_OUTPUT else x, nid)
        return y
    if type_id == "maxpool2d":
        if grad_in:
            tape.save(x, nid)
            tape.save(tape.new(n_out * 8, False), nid)  # the int64 indices
        return tape.new(n_out * act, grad_in)
    if type_id == "avgpool2d":
        if grad_in:
            tape.save(x, nid)
        return tape.new(n_out * act, grad_in)
    if type_id == "adaptive_avgpool2d":
        one = math.prod(shape[1:]) == 1  # to 1×1 it is a mean, which keeps nothing
        if grad_in and not one:
            tape.save(x, nid)
        return tape.new(n_out * act, grad_in)
    if type_id == "global_avgpool":
        return tape.new(n_out * act, grad_in)
    if type_id in ("flatten", "output"):
        return x  # a view of its input
    if type_id == "dropout":
        y = tape.new(n_out * act, grad_in)
        if grad_in and params.get("p", 0.5) > 0:
            # the CPU keeps the scaled mask in the activations' dtype, CUDA a bool mask
            tape.save(tape.new(n_out * (1 if device.startswith("cuda") else act), False), nid)
        return y
    if type_id == "dropout2d":
        y = tape.new(n_out * act, grad_in)
        if grad_in and params.get("p", 0.5) > 0:
            tape.save(tape.new(batch * shape[0] * act, False), nid)  # one noise per channel
        return y
    if type_id == "local_response_norm":
        if grad_in:
            size = params.get("size", 5)
            c, rest = shape[0], math.prod(shape[1:])
            tape.save(x, nid)
            tape.save(tape.new(batch * (c + size - 1) * rest * act, False), nid)
            tape.save(tape.new(n_out * act, False), nid)
            y = tape.new(n_out * act, grad_in)
            tape.save(y, nid)
            return y
        return tape.new(n_out * act, grad_in)
    if type_id == "multiply":
        if grad_in:
            for s in sources:
                tape.save(s, nid)
        return tape.new(n_out * act, grad_in)
    if type_id in ("add", "concat"):
        return tape.new(n_out * act, grad_in)
    # an opaque module or a block without a rule: its weights, and its output as kept
    _count(p, trains, n_params, 1 if n_params else 0)
    y = tape.new(n_out * act, grad_in or trains)
    if grad_in or (trains and n_params):
        tape.save(y, nid)
    return y


def _composite(
    tape: _Tape, nid: str, type_id: str, params: dict, shape: Shape, x: int, batch: int,
    act: int, trains: bool, p: _Params, device: str,
) -> int:  # fmt: skip
    """A composite block through its primitive parts (their costs are the block's)."""
    from blocks import REGISTRY

    parts = expand(type_id, params, shape)
    entities = {INPUT: x}
    shapes = {INPUT: shape}
    for part in parts:
        block = REGISTRY.get(part.type_id)
        values = block.validate(part.params)
        ins = [shapes[i] for i in part.inputs]
        inference = block.infer(values, ins)
        shapes[part.name] = inference.shape
        entities[part.name] = _primitive(
            tape, nid, part.type_id, values, ins, inference.shape,
            [entities[i] for i in part.inputs], batch, act, trains, p, inference.params, device,
        )  # fmt: skip
    return entities[parts[-1].name]
