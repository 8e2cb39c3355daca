"""The open document: a project, its file, and a QUndoStack. Every edit is an undoable command
that changes the model only; views follow the graph's events."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from app.core.edits import Step, apply_steps, expand_node, insert_on_edge
from app.core.errors import GraphError
from app.core.graph import Edge, Graph, GraphEvent, Learning
from app.core.layout import layered_layout, unplaced
from app.core.serialization import Project, load, save
from app.core.shapes import ShapeReport, check


class Document(QObject):
    """Owns the project and its undo stack; re-checks shapes after every change."""

    changed = Signal()  # the graph changed (any event)
    training_changed = Signal()  # the project's training settings changed
    checked = Signal(object)  # a new ShapeReport
    file_changed = Signal()  # path or modified state changed

    def __init__(self, project: Project | None = None, path: Path | None = None) -> None:
        super().__init__()
        self.project = project or Project(Graph(), "Untitled")
        self.path = path
        if unplaced(self.graph):  # every block on top of the others: lay them out
            for node_id, position in layered_layout(self.graph).items():
                self.graph.move_node(node_id, position)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.report: ShapeReport = check(self.graph)
        self._checked = self._content_version()
        self._batch_depth = 0
        self._dirty = False
        self.locked = ""  # while a run trains this graph: why edits are refused
        self.graph.subscribe(self._on_event)

    @property
    def graph(self) -> Graph:
        return self.project.graph

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        name = self.path.name if self.path else (self.project.name or "Untitled")
        return f"{name}{' *' if self.modified else ''}"

    def _clean_changed(self, _clean: bool) -> None:
        self.file_changed.emit()

    def detach(self) -> None:
        """Stop following the graph (idempotent)."""
        with contextlib.suppress(ValueError):
            self.graph.unsubscribe(self._on_event)

    def dispose(self) -> None:
        """Detach and let Qt delete this object (the document was replaced)."""
        self.detach()
        self.deleteLater()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group graph events: views and the shape check update once at the end (a command
        that moves or pastes hundreds of nodes re-checks once, not once per node)."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if not self._batch_depth and self._dirty:
                self._refresh()

    def _on_event(self, event: GraphEvent) -> None:
        if self._batch_depth:
            self._dirty = True
        else:
            self._refresh()

    def _content_version(self) -> int:
        """Changes other than moves: shapes do not depend on where blocks sit."""
        return self.graph.version - self.graph.layout_version

    def _refresh(self) -> None:
        self._dirty = False
        # moves alone keep the report: an auto-layout of a 516-node graph re-checked every
        # shape (a third of its stall)
        rechecked = self._content_version() != self._checked
        if rechecked:
            self._checked = self._content_version()
            self.report = check(self.graph)
        self.changed.emit()
        if rechecked:
            self.checked.emit(self.report)

    # ----------------------------------------------------------------- files
    @classmethod
    def open(cls, path: Path) -> Document:
        """Load a project file; raises ProjectFileError (nothing changes on failure). A file
        the loader repaired (``project.notes``) opens as modified, so closing offers to save
        the repaired version."""
        document = cls(load(path), Path(path))
        if document.project.notes:
            document.undo_stack.resetClean()
        return document

    def save(self, path: Path | None = None) -> None:
        target = Path(path or self.path)  # type: ignore[arg-type]
        save(self.project, target)
        self.path = target
        self.undo_stack.setClean()
        self.file_changed.emit()

    # --------------------------------------------------------------- editing
    def push(self, command: QUndoCommand) -> None:
        """Run ``command`` and keep it for undo. Typed graph errors propagate unchanged, and
        then nothing is pushed (commands validate before changing anything). While the graph
        is locked (a run is training it) only moves and training settings are accepted."""
        if self.locked and not isinstance(command, MoveCommand | TrainingCommand):
            raise LockedError(self.locked)
        with self.batch():
            command.redo()
        self.undo_stack.push(_Done(command, self))

    def add_node(
        self, type_id: str, position: tuple[float, float], params: Mapping[str, Any] | None = None
    ) -> str:
        node_id = self.graph.new_id(type_id)
        self.push(AddNodeCommand(self.graph, type_id, dict(params or {}), node_id, position))
        return node_id

    def remove(self, node_ids: Iterable[str], edges: Iterable[Edge] = ()) -> None:
        nodes, edges = list(node_ids), list(edges)
        if nodes or edges:
            self.push(RemoveCommand(self.graph, nodes, edges))

    def connect(self, src: str, dst: str, port: int | None = None) -> None:
        self.push(ConnectCommand(self.graph, src, dst, port))

    def set_params(self, node_id: str, changes: Mapping[str, Any]) -> None:
        self.push(SetParamsCommand(self.graph, node_id, dict(changes)))

    def paste(self, data: Mapping[str, Any], offset: float = 40.0) -> list[str]:
        """Paste a fragment (see :func:`fragment`); returns the new node ids."""
        command = PasteCommand(self.graph, data, offset)
        self.push(command)
        return command.new_ids

    def insert_on_edge(self, edge: Edge, type_id: str, position: tuple[float, float]) -> str:
        """Put a new block on a connection (one undoable command); returns its id."""
        node_id, steps = insert_on_edge(self.graph, edge, type_id, position)
        title = self.graph.registry.get(type_id).title
        self.push(StepsCommand(self.graph, f"Insert {title}", steps))
        return node_id

    def expand(self, node_id: str) -> list[str]:
        """Replace a composite block by its primitive blocks (one undoable command)."""
        new_ids, steps = expand_node(self.graph, node_id, self.report)
        self.push(StepsCommand(self.graph, f"Expand {node_id}", steps))
        return new_ids

    def adapt_to(self, shape: tuple[int, ...], classes: int | None, name: str) -> list[str]:
        """Fit the Input to ``shape`` images and the classifier to ``classes`` (one undoable
        step); returns what changed."""
        from app.core.training.adapt import adapt_to_dataset

        trial = self.graph.copy()
        changes = adapt_to_dataset(trial, shape, classes)
        self.adopt(trial, f"Adapt to {name}")
        return changes

    def adopt(self, trial: Graph, text: str, settings: Mapping[str, Any] | None = None) -> None:
        """Take the parameters and learning of ``trial`` (a copy of this graph, changed) and
        optionally new training settings, as one undoable step."""
        self.undo_stack.beginMacro(text)
        try:
            for nid, node in trial.nodes.items():
                old = self.graph.nodes[nid]
                diff = {k: v for k, v in node.params.items() if old.params[k] != v}
                if diff:
                    self.set_params(nid, diff)
            self.set_learning(
                {
                    n: t.learning
                    for n, t in trial.nodes.items()
                    if self.graph.node(n).learning != t.learning
                }
            )
            if settings is not None:
                self.set_training(settings)
        finally:
            self.undo_stack.endMacro()

    def set_learning(self, changes: Mapping[str, Learning], text: str = "") -> None:
        """Freeze, unfreeze or change the learning-rate multiplier of nodes (one step)."""
        changes = {n: v for n, v in changes.items() if self.graph.node(n).learning != v}
        if changes:
            frozen = sum(1 for v in changes.values() if not v.trainable)
            default = f"Freeze {frozen} block(s)" if frozen else f"Change {len(changes)} block(s)"
            self.push(LearningCommand(self.graph, changes, text or default))

    def set_training(self, settings: Mapping[str, Any]) -> None:
        """Replace the project's training settings (one undoable step)."""
        if dict(settings) != self.project.training:
            self.push(TrainingCommand(self, dict(settings)))

    def move(self, moves: Mapping[str, tuple[float, float]]) -> None:
        old = {n: self.graph.node(n).position for n in moves}
        if any(old[n] != tuple(map(float, p)) for n, p in moves.items()):
            self.push(MoveCommand(self.graph, old, dict(moves)))


class LockedError(GraphError):
    """The graph cannot be edited now (a training run uses it)."""


class TrainingCommand(QUndoCommand):
    def __init__(self, document: Document, settings: dict) -> None:
        super().__init__("Change training settings")
        self.document, self.new = document, settings
        self.old = dict(document.project.training)

    def redo(self) -> None:
        self.document.project.training = dict(self.new)
        self.document.training_changed.emit()

    def undo(self) -> None:
        self.document.project.training = dict(self.old)
        self.document.training_changed.emit()


class LearningCommand(QUndoCommand):
    def __init__(self, graph: Graph, changes: dict[str, Learning], text: str) -> None:
        super().__init__(text)
        self.graph, self.new = graph, changes
        self.old = {n: graph.node(n).learning for n in changes}

    def redo(self) -> None:
        for nid, value in self.new.items():
            self.graph.set_learning(nid, value)

    def undo(self) -> None:
        for nid, value in self.old.items():
            self.graph.set_learning(nid, value)


class _Done(QUndoCommand):
    """Wraps a command that already ran (QUndoStack.push calls redo() once more: skip it) and
    runs every undo/redo as one batch of graph events."""

    def __init__(self, inner: QUndoCommand, document: Document) -> None:
        super().__init__(inner.text())
        self.inner, self.document = inner, document
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        with self.document.batch():
            self.inner.redo()

    def undo(self) -> None:
        with self.document.batch():
            self.inner.undo()


class AddNodeCommand(QUndoCommand):
    def __init__(
        self, graph: Graph, type_id: str, params: dict, node_id: str, position: tuple[float, float]
    ) -> None:
        super().__init__(f"Add {graph.registry.get(type_id).title}")
        self.graph, self.type_id, self.params = graph, type_id, params
        self.node_id, self.position = node_id, position

    def redo(self) -> None:
        self.graph.add_node(self.type_id, self.params, node_id=self.node_id, position=self.position)

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


class RemoveCommand(QUndoCommand):
    """Delete nodes (with their edges) and edges; undo restores ids, params and ports."""

    def __init__(self, graph: Graph, node_ids: list[str], edges: list[Edge]) -> None:
        count = len(node_ids) + len(edges)
        super().__init__(f"Delete {count} item{'s' if count > 1 else ''}")
        self.graph = graph
        self.nodes = [graph.node(n) for n in node_ids]
        order = list(graph.nodes)
        self.snapshot = [
            (order.index(n.id), n.id, n.type_id, dict(n.params), n.position, n.label, n.path)
            for n in self.nodes
        ]
        ids = set(node_ids)
        self.edges = list(
            dict.fromkeys([e for e in graph.edges() if e.src in ids or e.dst in ids] + edges)
        )

    def redo(self) -> None:
        ids = {n for _, n, *_ in self.snapshot}
        for edge in self.edges:
            if edge.src not in ids and edge.dst not in ids:
                self.graph.disconnect(edge)
        for _, node_id, *_ in self.snapshot:
            self.graph.remove_node(node_id)

    def undo(self) -> None:
        for index, node_id, type_id, params, position, label, path in sorted(self.snapshot):
            self.graph.add_node(
                type_id,
                params,
                node_id=node_id,
                position=position,
                label=label,
                index=index,
                path=path,
            )
        for edge in self.edges:
            self.graph.connect(edge.src, edge.dst, edge.port)


class ConnectCommand(QUndoCommand):
    def __init__(self, graph: Graph, src: str, dst: str, port: int | None) -> None:
        super().__init__(f"Connect {src} → {dst}")
        self.graph, self.src, self.dst, self.port = graph, src, dst, port
        self.edge: Edge | None = None

    def redo(self) -> None:
        self.edge = self.graph.connect(self.src, self.dst, self.port)
        self.port = self.edge.port

    def undo(self) -> None:
        assert self.edge is not None
        self.graph.disconnect(self.edge)


class SetParamsCommand(QUndoCommand):
    def __init__(self, graph: Graph, node_id: str, changes: dict) -> None:
        super().__init__(f"Edit {node_id}")
        self.graph, self.node_id, self.changes = graph, node_id, changes
        self.old: dict = {}

    def redo(self) -> None:
        self.old = self.graph.set_params(self.node_id, self.changes)

    def undo(self) -> None:
        self.graph.set_params(self.node_id, self.old)


class StepsCommand(QUndoCommand):
    """A structural edit of several steps (see app.core.edits), applied all or nothing."""

    def __init__(self, graph: Graph, text: str, steps: list[Step]) -> None:
        super().__init__(text)
        self.graph, self.steps = graph, steps
        self.inverse: list[Step] = []

    def redo(self) -> None:
        self.inverse = apply_steps(self.graph, self.steps)

    def undo(self) -> None:
        apply_steps(self.graph, self.inverse)


class MoveCommand(QUndoCommand):
    def __init__(self, graph: Graph, old: dict, new: dict) -> None:
        super().__init__(f"Move {len(new)} node{'s' if len(new) > 1 else ''}")
        self.graph, self.old, self.new = graph, old, new

    def redo(self) -> None:
        for node_id, pos in self.new.items():
            self.graph.move_node(node_id, pos)

    def undo(self) -> None:
        for node_id, pos in self.old.items():
            self.graph.move_node(node_id, pos)


def fragment(graph: Graph, node_ids: Iterable[str]) -> dict[str, Any]:
    """The selected nodes and the edges among them, as plain data (for the clipboard)."""
    ids = [n for n in graph.nodes if n in set(node_ids)]
    return {
        "nodes": [
            {
                "id": n,
                "type": graph.node(n).type_id,
                "params": dict(graph.node(n).params),
                "position": list(graph.node(n).position),
                "label": graph.node(n).label,
            }
            for n in ids
        ],
        "edges": [
            {"src": e.src, "dst": e.dst, "port": e.port}
            for e in graph.edges()
            if e.src in ids and e.dst in ids
        ],
    }


class PasteCommand(QUndoCommand):
    """Add a fragment's nodes under fresh ids (offset on the canvas) and its inner edges."""

    def __init__(self, graph: Graph, data: Mapping[str, Any], offset: float) -> None:
        super().__init__(f"Paste {len(data['nodes'])} block(s)")
        self.graph = graph
        self.renamed: dict[str, str] = {}
        taken = set(graph.nodes)
        for node in data["nodes"]:
            base = graph.registry.canonical(node["type"])
            n = 1
            while f"{base}_{n}" in taken:
                n += 1
            self.renamed[node["id"]] = f"{base}_{n}"
            taken.add(f"{base}_{n}")
        self.nodes = [
            (
                self.renamed[d["id"]],
                d["type"],
                d["params"],
                (d["position"][0] + offset, d["position"][1] + offset),
                d.get("label", ""),
            )
            for d in data["nodes"]
        ]
        self.edges = [
            Edge(self.renamed[e["src"]], self.renamed[e["dst"]], e["port"]) for e in data["edges"]
        ]

    @property
    def new_ids(self) -> list[str]:
        return [n for n, *_ in self.nodes]

    def redo(self) -> None:
        added = []
        try:
            for node_id, type_id, params, position, label in self.nodes:
                self.graph.add_node(
                    type_id, params, node_id=node_id, position=position, label=label
                )
                added.append(node_id)
            for edge in self.edges:
                self.graph.connect(edge.src, edge.dst, edge.port)
        except Exception:
            for node_id in reversed(added):  # all or nothing
                self.graph.remove_node(node_id)
            raise

    def undo(self) -> None:
        for node_id in reversed(self.new_ids):
            self.graph.remove_node(node_id)
