"""Block types and their registry.

A block type is a stateless object describing one kind of node: its parameters, how many inputs
it takes, and three pure functions of (params, input shapes): ``infer`` (output shape and stats),
``build`` (an ``nn.Module``) and ``source`` (the constructor expression for exported code).
Shapes exclude the batch dimension.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from blocks.params import Param, validate_params


class LazyModule:
    """A module imported on first attribute access. Block specs need torch only to build
    modules, so importing the catalogue (the GUI's start-up path) does not import torch."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


nn = LazyModule("torch.nn")

Shape = tuple[int, ...]
Params = Mapping[str, Any]


class ShapeError(ValueError):
    """The block cannot accept its input shape(s). The message states the formula and a fix."""


class UnknownBlockError(KeyError):
    """No block type is registered under this id (nor as an alias)."""

    def __init__(self, type_id: str) -> None:
        super().__init__(type_id)
        self.type_id = type_id

    def __str__(self) -> str:
        return f"unknown block type {self.type_id!r}"


class Formula(NamedTuple):
    """One application of the output-size formula ``floor((W - F + 2P) / S) + 1`` on one axis.

    ``kernel`` is the effective kernel ``dilation * (F - 1) + 1``; ``ceil`` marks pooling with
    ``ceil_mode=True``; ``same`` marks padding='same' (output = input).
    """

    axis: str
    size: int
    kernel: int
    padding: int
    stride: int
    out: int
    dilation: int = 1
    raw_kernel: int = 0
    ceil: bool = False
    same: bool = False

    @property
    def numerator(self) -> int:
        return self.size - self.kernel + 2 * self.padding

    @property
    def exact(self) -> bool:
        """True when the inner division leaves no remainder (no pixels silently dropped)."""
        return self.same or self.numerator % self.stride == 0

    def __str__(self) -> str:
        if self.same:
            return f"{self.axis}_out = {self.size} (padding='same')"
        rnd = "ceil" if self.ceil else "floor"
        text = (
            f"{self.axis}_out = {rnd}(({self.size} − {self.kernel} + 2·{self.padding}) / "
            f"{self.stride}) + 1 = {self.out}"
        )
        if self.dilation > 1:
            text += f"  (F = {self.dilation}·({self.raw_kernel}−1)+1 = {self.kernel})"
        return text


class Inference(NamedTuple):
    """What a block's ``infer`` returns: output shape and per-node statistics.

    ``params`` and ``macs`` count trainable parameters and multiply-accumulates of conv and
    linear layers (as torchvision counts GMACs). ``rf_kernel``/``rf_stride`` describe the block's
    effect on the receptive field along its longest path; ``layers`` is how many conv/linear
    layers the block adds to the network's depth (the course's count).
    """

    shape: Shape
    params: int = 0
    macs: int = 0
    formulas: tuple[Formula, ...] = ()
    rf_kernel: int = 1
    rf_stride: int = 1
    layers: int = 0
    notes: tuple[str, ...] = ()


class BlockType:
    """Base class of every block type. Subclasses set the class attributes and override
    ``infer``, ``build`` and ``source``; instances are registered with :func:`register`.
    """

    type_id: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str]
    help: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    arity: ClassVar[int] = 1
    aliases: ClassVar[tuple[str, ...]] = ()
    #: names of composite module classes (in ``blocks.modules``) that ``source`` refers to.
    module_classes: ClassVar[tuple[str, ...]] = ()
    #: what a block is, for the checks and tools that depend on it (instead of lists of ids):
    #: exported code writes the block inline on its inputs' variables instead of as a
    #: submodule: a binary operator ("+", "*") between them, or "cat" (torch.cat on channels)
    inline: ClassVar[str | None] = None
    #: the param that sets the number of output features or channels (fitting a network's
    #: classifier to a dataset's classes changes it)
    width_param: ClassVar[str | None] = None
    #: the output has the input's width (a classifier's scores pass through unchanged)
    keeps_width: ClassVar[bool] = False
    #: BatchNorm: a bias right before it is redundant, dropout right after it hurts
    normalizes_batch: ClassVar[bool] = False
    #: randomly zeroes activations while training
    drops_out: ClassVar[bool] = False
    #: turns scores into probabilities (cross-entropy training wants the raw scores)
    outputs_probabilities: ClassVar[bool] = False
    #: a fully connected layer (the course's warning about classifiers holding most weights)
    fully_connected: ClassVar[bool] = False
    #: listed in the palette (an opaque module is made by an import, not drawn)
    palette: ClassVar[bool] = True

    def num_inputs(self, params: Params) -> int:
        """Number of input ports (Add/Concat have a configurable count)."""
        return self.arity

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def validate(self, values: Params, *, partial: bool = False) -> dict[str, Any]:
        return validate_params(self.params, values, partial=partial)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        raise NotImplementedError

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        raise NotImplementedError

    def source(self, params: Params, inputs: list[Shape]) -> str:
        raise NotImplementedError

    def summary(self, params: Params) -> str:
        """Short text of the key params for the canvas, e.g. ``3×3, 64, s2``."""
        return ""

    def active_params(self, params: Params) -> tuple[str, ...]:
        """The params that matter with these values (the Inspector shows only these)."""
        return tuple(p.name for p in self.params)

    def classes_used(self, params: Params) -> tuple[str, ...]:
        """Composite module classes the exported code needs for this node."""
        return self.module_classes

    def imports(self, params: Params) -> tuple[str, ...]:
        """Import lines the exported code needs for this node (an opaque module's class)."""
        return ()


@dataclass
class Registry:
    """Block types by id; refuses duplicate ids and aliases."""

    _types: dict[str, BlockType] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)

    def add(self, block: BlockType) -> BlockType:
        for name in (block.type_id, *block.aliases):
            if name in self._types or name in self._aliases:
                raise ValueError(f"block type id {name!r} is already registered")
        if not block.type_id.isidentifier():
            raise ValueError(f"block type id {block.type_id!r} is not a valid identifier")
        self._types[block.type_id] = block
        for alias in block.aliases:
            self._aliases[alias] = block.type_id
        return block

    def get(self, type_id: str) -> BlockType:
        block = self._types.get(self._aliases.get(type_id, type_id))
        if block is None:
            raise UnknownBlockError(type_id)
        return block

    def canonical(self, type_id: str) -> str:
        return self.get(type_id).type_id

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, str) and (type_id in self._types or type_id in self._aliases)

    def __iter__(self) -> Iterator[BlockType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def categories(self) -> dict[str, list[BlockType]]:
        out: dict[str, list[BlockType]] = {}
        for block in self._types.values():
            out.setdefault(block.category, []).append(block)
        return out


REGISTRY = Registry()


def register(cls: type[BlockType]) -> type[BlockType]:
    """Class decorator: instantiate the block type and add it to the global registry."""
    REGISTRY.add(cls())
    return cls


def literal(value: Any) -> str:
    """A Python literal as ruff formats it (double-quoted strings)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def call_source(ctor: str, args: list[Any], kwargs: Mapping[str, Any]) -> str:
    """Format a constructor call: positional args, then keyword args, Python literals."""
    parts = [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kwargs.items()]
    return f"{ctor}({', '.join(parts)})"


def shape_text(shape: Shape) -> str:
    return "×".join(str(s) for s in shape)
