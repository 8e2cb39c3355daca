"""The network graph: nodes (typed blocks with params) and edges into numbered input ports.

All mutations validate first and raise a typed error before changing anything; successful ones
emit plain-Python events that views subscribe to. Topology queries (order, generations,
cycles) walk the edges directly; networkx is imported only for the algorithms it is asked for
(``nx_graph``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from app.core.errors import (
    CycleError,
    DuplicateNodeError,
    EdgeNotFoundError,
    InvalidNodeIdError,
    InvalidParamError,
    NodeNotFoundError,
    PortError,
    PortOccupiedError,
)
from app.core.names import module_path_problem, node_id_problem
from blocks import REGISTRY, BlockType, Registry

Position = tuple[float, float]


def stage_of(path: str) -> str:
    """The stage a module path belongs to (``layer1`` for ``layer1.0.conv1``): its first part,
    when it has more than one; "" for none."""
    return path.split(".", 1)[0] if "." in path else ""


@dataclass(frozen=True)
class Learning:
    """How a node's weights train. ``trainable`` False freezes them: no gradients, no
    optimizer state, and its BatchNorm layers keep their running statistics (eval
    behaviour). ``lr_mult`` scales the learning rate of its weights (a backbone ×0.1)."""

    trainable: bool = True
    lr_mult: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.trainable, bool):
            raise InvalidParamError("trainable", f"expected true or false, got {self.trainable!r}")
        ok = isinstance(self.lr_mult, int | float) and not isinstance(self.lr_mult, bool)
        if not ok or not 0 < self.lr_mult <= LR_MULT_MAX:
            raise InvalidParamError(
                "lr_mult",
                f"expected a number above 0 and at most {LR_MULT_MAX:g}, got {self.lr_mult!r}",
            )
        object.__setattr__(self, "lr_mult", float(self.lr_mult))

    @property
    def default(self) -> bool:
        return self == Learning()


#: the largest learning-rate multiplier a node may have
LR_MULT_MAX = 100.0


@dataclass
class Node:
    """One block instance. ``params`` is complete and validated (defaults filled in)."""

    id: str
    type_id: str
    params: dict[str, Any]
    position: Position = (0.0, 0.0)
    label: str = ""
    #: module path in the compiled model (``layer1.0.conv1``, as in the source of an imported
    #: model); empty: the node id. Nodes sharing a prefix form a group (a stage).
    path: str = ""
    learning: Learning = Learning()


@dataclass(frozen=True)
class Edge:
    """Output of ``src`` feeds input port ``port`` of ``dst``."""

    src: str
    dst: str
    port: int = 0


@dataclass(frozen=True)
class GraphEvent:
    """A change that happened. ``kind`` is one of node_added, node_removed, edge_added,
    edge_removed, params_changed, node_moved, label_changed, node_renamed, path_changed,
    learning_changed."""

    kind: str
    node_id: str = ""
    edge: Edge | None = None
    old: Any = None
    new: Any = None


Listener = Callable[[GraphEvent], None]
_ID_SUFFIX = re.compile(r"^(.*?)_(\d+)$")


STRUCTURAL = frozenset({"node_added", "node_removed", "edge_added", "edge_removed", "node_renamed"})


class Graph:
    """A directed acyclic graph of blocks. ``version`` increases with every change,
    ``topology_version`` with every added/removed/renamed node or edge, ``layout_version``
    with every move (views use them to skip work that nothing changed). ``derived`` holds what
    passes over the graph keep for their next run (the shape pass's per-node results), each
    checked against what it was computed from; a copy starts without it."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry
        self.derived: dict[str, Any] = {}
        self._succ: dict[str, dict[str, int]] = {}  # successor → number of edges
        self._nodes: dict[str, Node] = {}
        self._inputs: dict[str, list[str | None]] = {}
        self._listeners: list[Listener] = []
        self.version = self.topology_version = self.layout_version = 0

    def __repr__(self) -> str:
        return f"Graph({len(self._nodes)} nodes, {sum(1 for _ in self.edges())} edges)"

    # ----------------------------------------------------------------- queries
    @property
    def nodes(self) -> Mapping[str, Node]:
        return self._nodes

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise NodeNotFoundError(node_id) from None

    def block(self, node_id: str) -> BlockType:
        return self.registry.get(self.node(node_id).type_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def edges(self) -> Iterator[Edge]:
        for dst, sources in self._inputs.items():
            for port, src in enumerate(sources):
                if src is not None:
                    yield Edge(src, dst, port)

    def inputs_of(self, node_id: str) -> list[str | None]:
        """Source node per input port (None where unconnected)."""
        self.node(node_id)
        return list(self._inputs[node_id])

    def port_table(self) -> Mapping[str, list[str | None]]:
        """Source per input port for every node, in insertion order. Read-only: the shape pass
        walks this directly because it is much faster than networkx for whole-graph passes."""
        return self._inputs

    def successors(self, node_id: str) -> list[str]:
        return list(self._succ[node_id])

    def out_edges(self, node_id: str) -> list[Edge]:
        return [
            Edge(node_id, dst, port)
            for dst in self._succ[node_id]
            for port, src in enumerate(self._inputs[dst])
            if src == node_id
        ]

    def topological_order(self) -> list[str]:
        order, _ = topological_sort(self._inputs)
        if len(order) < len(self._nodes):
            raise CycleError("the graph has a cycle")
        return order

    def upstream(self, node_id: str) -> set[str]:
        return self._reach(node_id, lambda n: [s for s in self._inputs[n] if s is not None])

    def downstream(self, node_id: str) -> set[str]:
        return self._reach(node_id, lambda n: list(self._succ[n]))

    def layers(self) -> list[list[str]]:
        """Topological generations (for layered auto-layout)."""
        return [sorted(gen) for gen in generations(self._inputs)]

    @property
    def nx_graph(self) -> Any:
        """A networkx MultiDiGraph copy (edge keys are ports), for networkx's algorithms.
        networkx is imported here, not at start-up."""
        import networkx as nx

        g = nx.MultiDiGraph()
        g.add_nodes_from(self._nodes)
        g.add_edges_from((e.src, e.dst, e.port) for e in self.edges())
        return g

    def _reach(self, start: str, step: Callable[[str], list[str]]) -> set[str]:
        self.node(start)
        seen: set[str] = set()
        todo = step(start)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(step(n))
        return seen

    def new_id(self, type_id: str) -> str:
        """A fresh node id such as ``conv2d_3``."""
        base = self.registry.canonical(type_id)
        n = 1
        while f"{base}_{n}" in self._nodes:
            n += 1
        return f"{base}_{n}"

    # -------------------------------------------------------------- listeners
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: GraphEvent) -> None:
        self.version += 1
        if event.kind in STRUCTURAL:
            self.topology_version += 1
        elif event.kind == "node_moved":
            self.layout_version += 1
        for listener in list(self._listeners):
            listener(event)

    # -------------------------------------------------------------- mutations
    def add_node(
        self,
        type_id: str,
        params: Mapping[str, Any] | None = None,
        *,
        node_id: str | None = None,
        position: Position = (0.0, 0.0),
        label: str = "",
        index: int | None = None,
        path: str = "",
        learning: Learning = Learning(),
    ) -> Node:
        """Add a node. ``index`` puts it at that place in the node order (undo of a delete
        restores the original order, so saved files do not change). ``path``: its module path
        (see :class:`Node`); ``learning``: whether and how fast its weights train."""
        block = self.registry.get(type_id)
        if node_id is None:
            node_id = self.new_id(block.type_id)
        self._check_new_id(node_id)
        self._check_path(path)
        values = block.validate(params or {})
        node = Node(node_id, block.type_id, values, _position(position), str(label), path, learning)
        self._nodes[node_id] = node
        self._inputs[node_id] = [None] * block.num_inputs(values)
        if index is not None and index < len(self._nodes) - 1:
            order = list(self._nodes)
            order.insert(index, order.pop())
            self._nodes = {k: self._nodes[k] for k in order}
            self._inputs = {k: self._inputs[k] for k in order}
        self._succ[node_id] = {}
        self._emit(GraphEvent("node_added", node_id))
        return node

    def _check_new_id(self, node_id: str) -> None:
        problem = node_id_problem(node_id)
        if problem:
            raise InvalidNodeIdError(problem)
        if node_id in self._nodes:
            raise DuplicateNodeError(f"node id {node_id!r} is already used")

    def _check_path(self, path: str) -> None:
        problem = module_path_problem(path) if path else None
        if problem:
            raise InvalidNodeIdError(problem)

    def remove_node(self, node_id: str) -> list[Edge]:
        """Remove a node and its edges; returns the removed edges (for undo)."""
        self.node(node_id)
        removed = [e for e in self.edges() if node_id in (e.src, e.dst)]
        for edge in removed:
            self.disconnect(edge)
        del self._nodes[node_id]
        del self._inputs[node_id]
        del self._succ[node_id]
        self._emit(GraphEvent("node_removed", node_id))
        return removed

    def connect(
        self, src: str, dst: str, port: int | None = None, *, acyclic: bool = False
    ) -> Edge:
        """Connect ``src``'s output to ``dst``'s input ``port`` (first free port if None).
        ``acyclic=True`` skips the reachability walk (linear per edge) for callers that have
        checked the whole edge set at once: the loader and :meth:`copy`."""
        self.node(src)
        ports = self._inputs[self.node(dst).id]
        if not ports:
            raise PortError(f"{dst} has no input ports")
        if port is None:
            free = [i for i, s in enumerate(ports) if s is None]
            if not free:
                raise PortOccupiedError(f"all {len(ports)} input ports of {dst} are connected")
            port = free[0]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < len(ports):
            raise PortError(f"{dst} has input ports 0…{len(ports) - 1}, not {port!r}")
        if ports[port] is not None:
            raise PortOccupiedError(f"input port {port} of {dst} is already fed by {ports[port]}")
        if src == dst or (not acyclic and src in self.downstream(dst)):
            raise CycleError(f"connecting {src} → {dst} would create a cycle")
        ports[port] = src
        self._succ[src][dst] = self._succ[src].get(dst, 0) + 1
        edge = Edge(src, dst, port)
        self._emit(GraphEvent("edge_added", dst, edge=edge))
        return edge

    def disconnect(self, edge: Edge) -> None:
        ports = self._inputs.get(edge.dst)
        if ports is None or not 0 <= edge.port < len(ports) or ports[edge.port] != edge.src:
            raise EdgeNotFoundError(f"no edge {edge.src} → {edge.dst}[{edge.port}]")
        ports[edge.port] = None
        count = self._succ[edge.src][edge.dst] - 1
        if count:
            self._succ[edge.src][edge.dst] = count
        else:
            del self._succ[edge.src][edge.dst]
        self._emit(GraphEvent("edge_removed", edge.dst, edge=edge))

    def set_params(self, node_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some params; returns the previous values of the changed ones (for undo)."""
        node = self.node(node_id)
        block = self.registry.get(node.type_id)
        clean = block.validate(changes, partial=True)
        new = {**node.params, **clean}
        n_ports = block.num_inputs(new)
        connected = [i for i, s in enumerate(self._inputs[node_id]) if s is not None]
        if connected and connected[-1] >= n_ports:
            raise InvalidParamError(
                "inputs", f"port {connected[-1]} is connected; disconnect it first"
            )
        old = {k: node.params[k] for k in clean}
        node.params = new
        ports = self._inputs[node_id]
        self._inputs[node_id] = (ports + [None] * n_ports)[:n_ports]
        self._emit(GraphEvent("params_changed", node_id, old=old, new=clean))
        return old

    def move_node(self, node_id: str, position: Position) -> None:
        node = self.node(node_id)
        old, node.position = node.position, _position(position)
        self._emit(GraphEvent("node_moved", node_id, old=old, new=node.position))

    def set_label(self, node_id: str, label: str) -> None:
        node = self.node(node_id)
        old, node.label = node.label, str(label)
        self._emit(GraphEvent("label_changed", node_id, old=old, new=node.label))

    def set_path(self, node_id: str, path: str) -> None:
        """Set (or clear, with "") a node's module path."""
        node = self.node(node_id)
        self._check_path(path)
        old, node.path = node.path, path
        self._emit(GraphEvent("path_changed", node_id, old=old, new=path))

    def set_learning(self, node_id: str, learning: Learning) -> None:
        """Freeze or unfreeze a node's weights, or change their learning-rate multiplier."""
        node = self.node(node_id)
        if not isinstance(learning, Learning):
            raise InvalidParamError(
                "learning", f"expected a Learning, got {type(learning).__name__}"
            )
        old, node.learning = node.learning, learning
        self._emit(GraphEvent("learning_changed", node_id, old=old, new=learning))

    def frozen(self) -> set[str]:
        """The ids of the nodes whose weights do not train."""
        return {n.id for n in self._nodes.values() if not n.learning.trainable}

    def module_names(self) -> dict[str, str]:
        """Node id → its module's name in the compiled model: the path, or the id."""
        return {n.id: n.path or n.id for n in self._nodes.values()}

    def rename_node(self, node_id: str, new_id: str) -> None:
        """Give a node a new id (the module name in compiled and exported code)."""
        node = self.node(node_id)
        if new_id == node_id:
            return
        self._check_new_id(new_id)
        self._nodes = {(new_id if k == node_id else k): v for k, v in self._nodes.items()}
        self._inputs = {(new_id if k == node_id else k): v for k, v in self._inputs.items()}
        for ports in self._inputs.values():
            for i, src in enumerate(ports):
                if src == node_id:
                    ports[i] = new_id
        self._succ = {
            (new_id if k == node_id else k): {
                (new_id if d == node_id else d): c for d, c in v.items()
            }
            for k, v in self._succ.items()
        }
        node.id = new_id
        self._emit(GraphEvent("node_renamed", new_id, old=node_id, new=new_id))

    # ------------------------------------------------------------------ misc
    def copy(self) -> Graph:
        """A deep copy without listeners."""
        other = Graph(self.registry)
        for node in self._nodes.values():
            other.add_node(
                node.type_id,
                node.params,
                node_id=node.id,
                position=node.position,
                label=node.label,
                path=node.path,
                learning=node.learning,
            )
        for edge in self.edges():
            other.connect(edge.src, edge.dst, edge.port, acyclic=True)  # this graph is a DAG
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self._nodes == other._nodes and sorted(self.edges(), key=_edge_key) == sorted(
            other.edges(), key=_edge_key
        )

    __hash__ = None  # type: ignore[assignment]


def _edge_key(e: Edge) -> tuple[str, str, int]:
    return (e.dst, e.src, e.port)


def _position(pos: Position) -> Position:
    x, y = pos
    return (float(x), float(y))


def topological_sort(ports: Mapping[str, list[str | None]]) -> tuple[list[str], dict]:
    """Kahn's algorithm over a port table: (order, successors). Nodes on a cycle are left out
    of ``order``; ties keep insertion order so reports are stable."""
    succ: dict[str, list[str]] = {n: [] for n in ports}
    indegree = dict.fromkeys(ports, 0)
    for dst, sources in ports.items():
        for src in sources:
            if src is not None:
                succ[src].append(dst)
                indegree[dst] += 1
    order = [n for n, d in indegree.items() if d == 0]
    i = 0
    while i < len(order):
        for nxt in succ[order[i]]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                order.append(nxt)
        i += 1
    return order, succ


def generations(ports: Mapping[str, list[str | None]]) -> list[list[str]]:
    """Topological generations: nodes whose inputs all lie in earlier generations."""
    level: dict[str, int] = {}
    order, _ = topological_sort(ports)
    for n in order:
        level[n] = 1 + max((level[s] for s in ports[n] if s is not None), default=-1)
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for n in order:
        out[level[n]].append(n)
    return out
