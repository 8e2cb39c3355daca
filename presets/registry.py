"""Preset registry: named architectures built with the same graph API that users' edits use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.core.graph import Graph

if TYPE_CHECKING:
    from app.core.serialization import Project

Builder = Callable[[], Graph]


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    input: str
    tags: tuple[str, ...]
    builder: Builder
    #: torchvision.models function with the same architecture and weights layout, if any
    torchvision: str | None = None
    #: training settings on top of those suggested for the network (a user preset's own)
    training: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Graph:
        return self.builder()

    def project(self) -> Project:
        """A document holding the preset, with training settings that fit it: the built-in
        dataset at its input size and a run length for its cost (then the preset's own)."""
        from app.core.serialization import Project
        from app.core.training.fit import suggested_training

        graph = self.build()
        return Project(graph, self.title, {**suggested_training(graph), **self.training})


_PRESETS: dict[str, Preset] = {}


def preset(
    name: str,
    title: str,
    description: str,
    input: str,
    tags: tuple[str, ...] = (),
    *,
    torchvision: str | None = None,
    training: Mapping[str, Any] | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator registering a graph builder under ``name``; duplicate names are errors."""

    def wrap(fn: Builder) -> Builder:
        if name in _PRESETS:
            raise ValueError(f"preset {name!r} is already registered")
        _PRESETS[name] = Preset(
            name, title, description, input, tags, fn, torchvision, dict(training or {})
        )
        return fn

    return wrap


class UnknownPresetError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return (
            f"no preset named {self.name!r}: 'python main.py presets' lists them "
            f"(built-in: {', '.join(_PRESETS)})"
        )


def is_builtin(name: str) -> bool:
    return name in _PRESETS


def get(name: str) -> Preset:
    """A built-in preset, else a user preset of that name."""
    if name in _PRESETS:
        return _PRESETS[name]
    from presets.user import user_presets

    for p in user_presets()[0]:
        if p.name == name:
            return p
    raise UnknownPresetError(name)


def names() -> list[str]:
    """Names of the built-in presets, in registration order."""
    return list(_PRESETS)


def all_presets() -> tuple[list[Preset], list[str]]:
    """Built-in presets followed by the user's, and problems with unreadable user files."""
    from presets.user import user_presets

    user, problems = user_presets()
    return [*_PRESETS.values(), *user], problems
