"""Typed errors raised by graph mutations, always before anything changes."""

from __future__ import annotations

from blocks import InvalidParamError, UnknownBlockError

__all__ = [
    "CycleError",
    "DuplicateNodeError",
    "EdgeNotFoundError",
    "GraphError",
    "InvalidNodeIdError",
    "InvalidParamError",
    "NodeNotFoundError",
    "PortError",
    "PortOccupiedError",
    "UnknownBlockError",
]


class GraphError(Exception):
    """Base class of graph topology errors."""


class NodeNotFoundError(GraphError, KeyError):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.node_id = node_id

    def __str__(self) -> str:
        return f"no node named {self.node_id!r}"


class DuplicateNodeError(GraphError):
    """A node id is already used, or is not a valid Python identifier."""


class InvalidNodeIdError(DuplicateNodeError):
    """A node id that cannot name a module: not an identifier, a keyword, reserved."""


class CycleError(GraphError):
    """Connecting would create a cycle; the network must be a DAG."""


class PortError(GraphError):
    """An input port index is out of range, or an edge joins incompatible ends."""


class PortOccupiedError(PortError):
    """The destination input port already has an incoming edge."""


class EdgeNotFoundError(GraphError):
    """No such edge."""
