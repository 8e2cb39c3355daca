"""What changed between two graphs: nodes added, removed and changed (type, parameters,
training flags, module path, label), and connections added and removed. Nodes are matched by
id (ids are stable through edits, undo and save), positions are ignored: moving a block does
not change the network. The comparison view lists a diff and the canvas draws it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import GraphError
from app.core.graph import Edge, Graph

__all__ = ["Change", "GraphDiff", "diff_graphs", "overlay"]


@dataclass(frozen=True)
class Change:
    """One property of a node that differs: ``what`` is a parameter name, or ``type``,
    ``trainable``, ``lr_mult``, ``path`` or ``label``."""

    what: str
    old: Any
    new: Any

    def text(self) -> str:
        return f"{self.what} {_value(self.old)} → {_value(self.new)}"


@dataclass(frozen=True)
class GraphDiff:
    """``b`` against ``a``: ``added`` and ``removed`` node ids with their block types,
    ``changed`` node ids with their changes, and the connections only one side has."""

    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    edges_added: tuple[Edge, ...] = ()
    edges_removed: tuple[Edge, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed or self.edges_added or self.edges_removed
        )

    def lines(self) -> list[str]:
        """One line per edit, for a list or a terminal."""
        out = [f"+ {nid} ({kind})" for nid, kind in self.added.items()]
        out += [f"- {nid} ({kind})" for nid, kind in self.removed.items()]
        for nid, changes in self.changed.items():
            out.append(f"~ {nid}: " + ", ".join(c.text() for c in changes))
        out += [f"+ edge {e.src} → {e.dst}{_port(e)}" for e in self.edges_added]
        out += [f"- edge {e.src} → {e.dst}{_port(e)}" for e in self.edges_removed]
        return out

    def summary(self) -> str:
        if self.empty:
            return "same graph"
        parts = []
        for count, word in (
            (len(self.added), "added"),
            (len(self.removed), "removed"),
            (len(self.changed), "changed"),
        ):
            if count:
                parts.append(f"{count} block{'s' if count > 1 else ''} {word}")
        edges = len(self.edges_added) + len(self.edges_removed)
        if edges and not (self.added or self.removed):
            parts.append(f"{edges} connection{'s' if edges > 1 else ''} changed")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {
                nid: [{"what": c.what, "old": c.old, "new": c.new} for c in changes]
                for nid, changes in self.changed.items()
            },
            "edges_added": [[e.src, e.dst, e.port] for e in self.edges_added],
            "edges_removed": [[e.src, e.dst, e.port] for e in self.edges_removed],
        }


def diff_graphs(a: Graph, b: Graph) -> GraphDiff:
    """The edits that turn ``a`` into ``b``."""
    added = {nid: n.type_id for nid, n in b.nodes.items() if nid not in a}
    removed = {nid: n.type_id for nid, n in a.nodes.items() if nid not in b}
    changed: dict[str, tuple[Change, ...]] = {}
    for nid, old in a.nodes.items():
        if nid not in b:
            continue
        new = b.node(nid)
        changes: list[Change] = []
        if old.type_id != new.type_id:
            changes.append(Change("type", old.type_id, new.type_id))
        for key in dict.fromkeys([*old.params, *new.params]):
            if old.params.get(key) != new.params.get(key):
                changes.append(Change(key, old.params.get(key), new.params.get(key)))
        if old.learning.trainable != new.learning.trainable:
            changes.append(Change("trainable", old.learning.trainable, new.learning.trainable))
        if old.learning.lr_mult != new.learning.lr_mult:
            changes.append(Change("lr_mult", old.learning.lr_mult, new.learning.lr_mult))
        for what in ("path", "label"):
            if getattr(old, what) != getattr(new, what):
                changes.append(Change(what, getattr(old, what), getattr(new, what)))
        if changes:
            changed[nid] = tuple(changes)
    ea, eb = set(a.edges()), set(b.edges())
    order = lambda e: (e.dst, e.port, e.src)  # noqa: E731
    return GraphDiff(
        added,
        removed,
        changed,
        tuple(sorted(eb - ea, key=order)),
        tuple(sorted(ea - eb, key=order)),
    )


def _value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "(" + ", ".join(str(x) for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


def _port(e: Edge) -> str:
    return f" (input {e.port + 1})" if e.port else ""


def overlay(
    a: Graph, b: Graph, diff: GraphDiff | None = None
) -> tuple[Graph, dict[str, tuple[str, str]]]:
    """One graph to draw a diff on: ``b`` with ``a``'s removed blocks put back (and their
    connections where the port is free), and a mark per block that differs:
    ``{node_id: (added|changed|removed, what changed)}``."""
    diff = diff or diff_graphs(a, b)
    merged = b.copy()
    for nid in diff.removed:
        node = a.node(nid)
        merged.add_node(
            node.type_id, node.params, node_id=nid, position=node.position, label=node.label,
            path=node.path, learning=node.learning,
        )  # fmt: skip
    for edge in diff.edges_removed:
        if edge.src not in merged or edge.dst not in merged:
            continue
        if edge.src not in diff.removed and edge.dst not in diff.removed:
            continue  # a connection between kept blocks that b rewired: b's is drawn
        ports = merged.inputs_of(edge.dst)
        if edge.port < len(ports) and ports[edge.port] is None:
            with contextlib.suppress(GraphError):  # one that would close a cycle is left out
                merged.connect(edge.src, edge.dst, edge.port)
    marks = {nid: ("added", "added in this run's graph") for nid in diff.added}
    marks |= {nid: ("removed", "removed in this run's graph") for nid in diff.removed}
    for nid, changes in diff.changed.items():
        marks[nid] = ("changed", "; ".join(c.text() for c in changes))
    return merged, marks
