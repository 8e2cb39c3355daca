"""Small graph builders shared by tests."""

from __future__ import annotations

from typing import Any

from app.core.graph import Graph


def chain(*steps: tuple[str, dict[str, Any]], graph: Graph | None = None) -> Graph:
    """Build input → step → step … with each node connected to the previous one."""
    g = graph or Graph()
    prev = None
    for type_id, params in steps:
        node = g.add_node(type_id, params)
        if prev is not None:
            g.connect(prev, node.id)
        prev = node.id
    return g


def image(c: int = 3, h: int = 32, w: int = 32) -> tuple[str, dict[str, Any]]:
    return ("input", {"channels": c, "height": h, "width": w})
