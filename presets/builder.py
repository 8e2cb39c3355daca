"""A small fluent helper to lay out presets as chains of nodes."""

from __future__ import annotations

from typing import Any

from app.core.graph import Graph

ROW = 90.0


class Chain:
    """Appends nodes below each other, connecting each to the previous one."""

    def __init__(self, graph: Graph | None = None) -> None:
        self.graph = graph or Graph()
        self.last: str | None = None
        self._y = 0.0

    def add(self, type_id: str, **params: Any) -> str:
        node = self.graph.add_node(type_id, params, position=(0.0, self._y))
        self._y += ROW
        if self.last is not None:
            self.graph.connect(self.last, node.id)
        self.last = node.id
        return node.id

    def input(self, channels: int, height: int, width: int) -> str:
        return self.add("input", layout="image", channels=channels, height=height, width=width)
