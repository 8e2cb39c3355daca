"""What a sweep varies: training settings (``lr``, ``batch_size``) and block parameters
(``conv2d_1.out_channels``, ``dropout_1.p``), written as on the command line:

    lr=log:1e-3..1e-1        a range, sampled log-uniformly (random and model-based search)
    lr=log:1e-3..1e-1:4      … or 4 grid points, evenly spaced on a log scale
    dropout_1.p=0,0.25,0.5   a list of values (grid, random, model-based)
    conv2d_1.out_channels=int:16..64:3   whole numbers: 16, 40, 64

Each value is validated against the setting's or the parameter's own rules when the sweep is
defined, so a typo fails before the first run, with the reason. A point of the sweep applies
to a copy of the project and its settings (:func:`apply_point`); the run folder then holds the
changed graph and config like any other run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.graph import Graph
from app.core.serialization import Project
from app.core.training.config import ConfigError, TrainConfig, settings
from blocks.params import InvalidParamError, Param

__all__ = [
    "Dimension",
    "SweepError",
    "apply_point",
    "bind",
    "grid_points",
    "parse_dimension",
    "point_text",
    "value_text",
]

#: a transform of a template's variant: (project, config) → (project, config)
Variant = Callable[[Project, TrainConfig], tuple[Project, TrainConfig]]


class SweepError(ValueError):
    """A sweep cannot be defined or a point cannot be applied; the message says why."""


@dataclass(frozen=True)
class Dimension:
    """One swept quantity. ``target`` is ``setting``, ``param`` (``node.param``) or
    ``variant`` (a template's named variants). Either ``values`` (a finite list) or a range
    ``low..high`` (``integer``, ``log``) with ``count`` grid points (0: no grid)."""

    name: str
    target: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    count: int = 0
    variants: Mapping[str, Variant] = field(default_factory=dict, compare=False)

    @property
    def is_range(self) -> bool:
        return self.low is not None

    def grid(self) -> tuple[Any, ...]:
        """The values a grid takes, in order."""
        if not self.is_range:
            return self.values
        if self.count < 1:
            raise SweepError(
                f"{self.name}: a grid needs a number of points for a range, e.g. "
                f"{self.name}={'log:' if self.log else ''}{self.low:g}..{self.high:g}:4"
            )
        return _spaced(self.low, self.high, self.count, self.log, self.integer)

    def sample(self, rng) -> Any:
        """One random value (``rng``: a :class:`random.Random`)."""
        if not self.is_range:
            return self.values[rng.randrange(len(self.values))]
        lo, hi = self.low, self.high
        x = math.exp(rng.uniform(math.log(lo), math.log(hi))) if self.log else rng.uniform(lo, hi)
        return min(max(round(x), int(lo)), int(hi)) if self.integer else x

    def suggest(self, trial) -> Any:
        """The value of an Optuna trial (an enqueued point's own value, or the sampler's)."""
        if not self.is_range:
            return trial.suggest_categorical(self.name, list(self.values))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def text(self) -> str:
        if not self.is_range:
            return f"{self.name} ∈ {{{', '.join(value_text(v) for v in self.values)}}}"
        scale = "log " if self.log else ""
        grid = f", {self.count} points" if self.count else ""
        kind = "int" if self.integer else "float"
        return f"{self.name} ∈ [{self.low:g}, {self.high:g}] ({scale}{kind}{grid})"


def parse_dimension(
    text: str, project: Project, variants: Mapping[str, Variant] | None = None
) -> Dimension:
    """``name=spec`` → a validated :class:`Dimension` for this project."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise SweepError(
            f"{text!r}: expected NAME=VALUES, e.g. lr=log:1e-3..1e-1 or dropout_1.p=0,0.5"
        )
    if name == "variant":
        if not variants:
            raise SweepError("variant: only an experiment template has variants")
        values = tuple(v.strip() for v in spec.split(","))
        unknown = [v for v in values if v not in variants]
        if unknown:
            raise SweepError(
                f"variant: unknown {', '.join(unknown)} (known: {', '.join(variants)})"
            )
        return Dimension(name, "variant", values, variants=dict(variants))
    param, target = _target(name, project)
    if param.kind not in ("int", "float", "bool", "choice", "padding"):
        raise SweepError(f"{name}: a {param.kind} value cannot be swept")
    tokens = spec.split(":")
    flags = set()
    while tokens and tokens[0] in ("log", "int"):
        flags.add(tokens.pop(0))
    if tokens and ".." in tokens[0]:
        return _range(name, target, param, tokens, flags)
    if flags or len(tokens) != 1:
        raise SweepError(f"{name}: expected a range LOW..HIGH after {':'.join(sorted(flags))}:")
    values = []
    for raw in spec.split(","):
        value = _literal(raw.strip(), param)
        try:
            values.append(param.validate(value))
        except InvalidParamError as exc:
            raise SweepError(f"{name}: {exc}") from None
    if len(set(map(repr, values))) != len(values):
        raise SweepError(f"{name}: a value is listed twice")
    return Dimension(name, target, tuple(values))


def _range(name: str, target: str, param: Param, tokens: list[str], flags: set[str]) -> Dimension:
    if param.kind not in ("int", "float"):
        raise SweepError(f"{name}: a range needs a number setting; list the values instead")
    low_text, _, high_text = tokens[0].partition("..")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise SweepError(f"{name}: {tokens[0]!r} is not a range of numbers LOW..HIGH") from None
    count = 0
    if len(tokens) == 2:
        try:
            count = int(tokens[1])
        except ValueError:
            raise SweepError(
                f"{name}: the number of grid points {tokens[1]!r} is not a whole number"
            ) from None
        if count < 1:
            raise SweepError(f"{name}: a grid needs at least one point")
    elif len(tokens) > 2:
        raise SweepError(f"{name}: expected [log:][int:]LOW..HIGH[:POINTS]")
    if not low < high:
        raise SweepError(f"{name}: the range's low end {low:g} must be below its high end {high:g}")
    log = "log" in flags
    if log and low <= 0:
        raise SweepError(f"{name}: a log range must start above 0")
    integer = "int" in flags or param.kind == "int"
    if integer and (low != int(low) or high != int(high)):
        raise SweepError(f"{name}: a range of whole numbers needs whole ends")
    for end in (low, high):
        try:
            param.validate(int(end) if integer else end)
        except InvalidParamError as exc:
            raise SweepError(f"{name}: {exc}") from None
    return Dimension(name, target, (), low, high, log, integer, count)


def _target(name: str, project: Project) -> tuple[Param, str]:
    specs = {p.name: p for p in settings()}
    if name in specs:
        return specs[name], "setting"
    node_id, dot, key = name.rpartition(".")
    if not dot:
        raise SweepError(
            f"{name}: not a training setting; a block parameter is written NODE.PARAM, "
            "e.g. conv2d_1.out_channels"
        )
    graph = project.graph
    if node_id not in graph:
        raise SweepError(f"{name}: there is no block {node_id!r} in this network")
    block = graph.block(node_id)
    names = [p.name for p in block.params]
    if key not in names:
        raise SweepError(
            f"{name}: {block.type_id} has no parameter {key!r} (it has {', '.join(names)})"
        )
    return block.param(key), "param"


def _literal(raw: str, param: Param) -> Any:
    if param.kind == "bool":
        lowered = raw.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        return raw
    if param.kind in ("int", "padding"):
        try:
            as_float = float(raw)
        except ValueError:
            return raw
        return int(as_float) if as_float == int(as_float) else as_float
    if param.kind == "float":
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def _spaced(low: float, high: float, count: int, log: bool, integer: bool) -> tuple[Any, ...]:
    if count == 1:
        points = [math.sqrt(low * high) if log else (low + high) / 2]
    elif log:
        a, b = math.log(low), math.log(high)
        points = [math.exp(a + (b - a) * i / (count - 1)) for i in range(count)]
    else:
        points = [low + (high - low) * i / (count - 1) for i in range(count)]
    if not integer:
        return tuple(float(f"{p:.6g}") for p in points)
    return tuple(dict.fromkeys(round(p) for p in points))


def value_text(value: Any) -> str:
    """A value as on the command line: floats in their shortest form."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def point_text(point: Mapping[str, Any]) -> str:
    """``lr=0.01, conv2d_1.out_channels=8``: a point as people write it."""
    return ", ".join(f"{k}={value_text(v)}" for k, v in point.items())


def bind(
    texts: Sequence[str], project: Project, variants: Mapping[str, Variant] | None = None
) -> tuple[Dimension, ...]:
    """Parse every ``name=spec``; a name given twice is an error."""
    dims = tuple(parse_dimension(t, project, variants) for t in texts)
    names = [d.name for d in dims]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise SweepError(f"{', '.join(sorted(twice))}: given more than once")
    if not dims:
        raise SweepError("a sweep needs at least one quantity to vary (NAME=VALUES)")
    return dims


def grid_points(dims: Sequence[Dimension]) -> list[dict[str, Any]]:
    """Every combination, the first dimension varying slowest."""
    points: list[dict[str, Any]] = [{}]
    for dim in dims:
        points = [{**p, dim.name: v} for p in points for v in dim.grid()]
    return points


def apply_point(
    project: Project, config: TrainConfig, point: Mapping[str, Any], dims: Sequence[Dimension]
) -> tuple[Project, TrainConfig]:
    """A copy of the project and settings with the point's values; the project's saved
    settings are the new ones. Raises :class:`SweepError` with the reason when a value does
    not apply (a width that breaks a shape is found by the shape check, not here)."""
    by_name = {d.name: d for d in dims}
    graph: Graph = project.graph.copy()
    out = Project(
        graph, project.name, dict(project.training), dict(project.view), project.description
    )
    changes: dict[str, Any] = {}
    for name, value in point.items():
        dim = by_name[name]
        if dim.target == "variant":
            out, config = dim.variants[value](out, config)
            graph = out.graph
        elif dim.target == "setting":
            changes[name] = value
        else:
            node_id, _, key = name.rpartition(".")
            try:
                graph.set_params(node_id, {key: value})
            except (InvalidParamError, KeyError) as exc:
                raise SweepError(f"{name}={value_text(value)}: {exc}") from None
    if changes:
        try:
            config = config.replace(**changes)
        except ConfigError as exc:
            raise SweepError("; ".join(exc.problems)) from None
    out.training = config.changed()
    return out, config
