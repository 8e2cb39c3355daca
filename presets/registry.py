"""Preset registry: named architectures built with the same graph API that users' edits use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.graph import Graph

Builder = Callable[[], Graph]


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    input: str
    tags: tuple[str, ...]
    builder: Builder

    def build(self) -> Graph:
        return self.builder()


_PRESETS: dict[str, Preset] = {}


def preset(
    name: str, title: str, description: str, input: str, tags: tuple[str, ...] = ()
) -> Callable[[Builder], Builder]:
    """Decorator registering a graph builder under ``name``; duplicate names are errors."""

    def wrap(fn: Builder) -> Builder:
        if name in _PRESETS:
            raise ValueError(f"preset {name!r} is already registered")
        _PRESETS[name] = Preset(name, title, description, input, tags, fn)
        return fn

    return wrap


class UnknownPresetError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no preset named {self.name!r} (known: {', '.join(sorted(_PRESETS))})"


def get(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except KeyError:
        raise UnknownPresetError(name) from None


def names() -> list[str]:
    return list(_PRESETS)
