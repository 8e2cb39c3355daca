"""A small fluent helper to lay out presets as chains of nodes."""

from __future__ import annotations

from typing import Any

from app.core.graph import Graph, stage_of
from app.core.layout import STAGE_GAP

ROW = 90.0


class Chain:
    """Appends nodes below each other, connecting each to the previous one."""

    def __init__(self, graph: Graph | None = None) -> None:
        self.graph = graph or Graph()
        self.last: str | None = None
        self._y = 0.0
        self._sequence: str | None = None
        self._index = 0
        self._stage = ""

    def sequential(self, name: str | None) -> None:
        """Name the next blocks ``name.0``, ``name.1``… (the modules of an ``nn.Sequential``,
        as torchvision's ``features`` and ``classifier``); ``None`` stops numbering."""
        self._sequence, self._index = name, 0

    def add(self, type_id: str, *, path: str = "", **params: Any) -> str:
        """Append a block; ``path`` is its module path (its name in the compiled model)."""
        if not path and self._sequence:
            path = f"{self._sequence}.{self._index}"
            self._index += 1
        if stage_of(path) != self._stage and self.last is not None:
            self._y += STAGE_GAP  # room for the stages' frames on the canvas
        self._stage = stage_of(path)
        node = self.graph.add_node(type_id, params, position=(0.0, self._y), path=path)
        self._y += ROW
        if self.last is not None:
            self.graph.connect(self.last, node.id)
        self.last = node.id
        return node.id

    def input(self, channels: int, height: int, width: int) -> str:
        return self.add("input", layout="image", channels=channels, height=height, width=width)
