"""Versioned JSON project files.

Loading validates everything and reports every problem with its JSON path; it never returns a
half-built graph. Saving is atomic (write a temporary file, fsync, rename) and deterministic, so
save → load → save is byte-identical.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.graph import Graph, Learning
from app.core.names import (
    free_id,
    has_surrogate,
    module_name_clashes,
    module_path_problem,
    node_id_problem,
)
from blocks import REGISTRY, InvalidParamError, Registry

FORMAT = "netbuilder-project"
#: 1: the first format. 2: nodes may carry a module ``path`` (``layer1.0.conv1``). A version-1
#: file is read as version 2 with no paths (nothing else changed). 3: nodes may carry
#: ``trainable`` (false: frozen) and ``lr_mult`` (the learning-rate multiplier of their weights);
#: older files read as all trainable at ×1. Saving writes version 3.
VERSION = 3


class ProjectFileError(ValueError):
    """A project file cannot be read. ``problems`` lists every problem as 'path: message'."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{head}cannot open project ({len(problems)} problem(s)):\n{body}")


@dataclass
class Project:
    """A document: the graph plus the settings saved beside it.

    ``training`` and ``view`` are JSON objects owned by the training panel and the canvas.
    ``notes`` (not saved) says what the loader repaired: renamed node ids, replaced characters.
    """

    graph: Graph
    name: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    view: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    notes: list[str] = field(default_factory=list, compare=False)


def to_json(project: Project) -> str:
    """Deterministic JSON text for a project (node order as inserted, params in spec order)."""
    g = project.graph
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "name": project.name,
        **({"description": project.description} if project.description else {}),
        "nodes": [
            {
                "id": n.id,
                "type": n.type_id,
                "params": n.params,
                "position": list(n.position),
                **({"label": n.label} if n.label else {}),
                **({"path": n.path} if n.path else {}),
                **({"trainable": False} if not n.learning.trainable else {}),
                **({"lr_mult": n.learning.lr_mult} if n.learning.lr_mult != 1 else {}),
            }
            for n in g.nodes.values()
        ],
        "edges": [{"src": e.src, "dst": e.dst, "port": e.port} for e in g.edges()],
        "training": project.training,
        "view": project.view,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save(project: Project, path: str | os.PathLike[str]) -> None:
    """Write atomically: the previous file stays intact if anything fails midway."""
    path = Path(path)
    text = to_json(project).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            fh = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)  # fdopen did not take ownership of the descriptor
            raise
        with fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str], registry: Registry = REGISTRY) -> Project:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProjectFileError(["file not found"], str(path)) from None
    except IsADirectoryError:
        raise ProjectFileError(["this is a folder, not a project file"], str(path)) from None
    except OSError as exc:
        raise ProjectFileError([f"cannot read: {exc.strerror}"], str(path)) from None
    return loads(data, registry, source=str(path))


def loads(data: bytes | str, registry: Registry = REGISTRY, source: str = "") -> Project:
    """Parse and validate project text; raises ProjectFileError listing every problem."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProjectFileError(
                [f"not UTF-8 text (bad byte at offset {exc.start}): is this a project file?"],
                source,
            ) from None
    if not data.strip():
        raise ProjectFileError(["the file is empty"], source)
    try:
        doc = json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        text = data.rstrip()
        truncated = text.startswith("{") and not text.endswith("}")
        cut = " (the file looks truncated)" if truncated else ""
        raise ProjectFileError(
            [f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{cut}"], source
        ) from None
    except RecursionError:
        raise ProjectFileError(["the JSON is nested too deeply"], source) from None
    except ValueError as exc:
        raise ProjectFileError([str(exc)], source) from None
    reader = _Reader(registry)
    doc = reader.clean(doc)
    project = reader.read(doc)
    if reader.problems or project is None:
        raise ProjectFileError(reader.problems, source)
    project.notes = reader.notes
    return project


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a project file")


@dataclass
class _Reader:
    registry: Registry
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: ids of nodes present in the file, including ones rejected for other reasons
    seen_ids: set[str] = field(default_factory=set)
    #: ids the file uses that cannot name a module, and the ids they were given instead
    renamed: dict[str, str] = field(default_factory=dict)
    #: the file's format version (older files are read as they were written)
    version: int = VERSION
    #: node id (after renaming) → its index in the file's node list
    index_of: dict[str, int] = field(default_factory=dict)

    def err(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def clean(self, doc: Any) -> Any:
        """Walk the whole document once (iteratively: depth cannot overflow the stack):
        numbers too large for a float (``1e400`` parses as infinity) are problems; lone
        surrogates (``"\\ud800"``, not encodable as UTF-8, so unsavable) become U+FFFD."""
        root = [doc]
        todo: list[tuple[Any, Any, str]] = [(root, 0, "$")]
        while todo:
            holder, key, path = todo.pop()
            value = holder[key]
            if isinstance(value, float) and not math.isfinite(value):
                self.err(path, "a number too large to store (not finite)")
            elif isinstance(value, str) and has_surrogate(value):
                holder[key] = _repair(value)
                self.notes.append(f"{path}: invalid characters (lone surrogates) replaced by �")
            elif isinstance(value, list):
                todo += [(value, i, f"{path}[{i}]") for i in range(len(value))]
            elif isinstance(value, dict):
                if any(has_surrogate(k) for k in value):
                    self.notes.append(f"{path}: invalid characters in a key replaced by �")
                    value = holder[key] = {_repair(k): v for k, v in value.items()}
                todo += [(value, k, f"{path}.{k}") for k in value]
        return root[0]

    def read(self, doc: Any) -> Project | None:
        if not isinstance(doc, dict):
            self.err("$", f"expected a JSON object, got {_kind(doc)}")
            return None
        if doc.get("format") != FORMAT:
            self.err(
                "$.format",
                f"expected {FORMAT!r}, got {_shown(doc.get('format'))}: not a NetBuilder project",
            )
            return None
        version = doc.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.err("$.version", f"expected a positive whole number, got {_shown(version)}")
        elif version > VERSION:
            self.err(
                "$.version",
                f"written by a newer NetBuilder (format {version}; this "
                f"version reads up to {VERSION}): please update",
            )
        known = {"format", "version", "name", "description", "nodes", "edges", "training", "view"}
        for key in doc:
            if key not in known:
                self.err(f"$.{key}", "unknown field")
        texts = {}
        for key in ("name", "description"):
            texts[key] = doc.get(key, "")
            if not isinstance(texts[key], str):
                self.err(f"$.{key}", f"expected text, got {_kind(texts[key])}")
        extra = {}
        for key in ("training", "view"):
            value = doc.get(key, {})
            if not isinstance(value, dict):
                self.err(f"$.{key}", f"expected an object, got {_kind(value)}")
            extra[key] = value
        self.version = version if isinstance(version, int) else VERSION
        nodes = self._nodes(doc.get("nodes"))
        edges = self._edges(doc.get("edges"), nodes)
        if self.problems:
            return None
        graph = Graph(self.registry)
        for nid, (type_id, params, pos, label, mpath, learning) in nodes.items():
            graph.add_node(
                type_id,
                params,
                node_id=nid,
                position=pos,
                label=label,
                path=mpath,
                learning=learning,
            )
        for src, dst, port in edges:
            graph.connect(src, dst, port, acyclic=True)  # _edges checked the whole set
        return Project(graph, texts["name"], extra["training"], extra["view"], texts["description"])

    def _nodes(self, raw: Any) -> dict[str, tuple]:
        out: dict[str, tuple] = {}
        fields = ("id", "type", "params", "position", "label")
        if self.version >= 2:
            fields += ("path",)
        if self.version >= 3:
            fields += ("trainable", "lr_mult")
        if not isinstance(raw, list):
            self.err("$.nodes", f"expected a list of nodes, got {_kind(raw)}")
            return out
        all_ids = {i.get("id") for i in raw if isinstance(i, dict) and isinstance(i.get("id"), str)}
        for i, item in enumerate(raw):
            path = f"$.nodes[{i}]"
            if not isinstance(item, dict):
                self.err(path, f"expected an object, got {_kind(item)}")
                continue
            for key in item:
                if key not in fields:
                    self.err(f"{path}.{key}", "unknown field")
            nid = item.get("id")
            if not isinstance(nid, str) or not nid.isidentifier():
                self.err(f"{path}.id", f"expected a Python identifier, got {_shown(nid)}")
                continue
            if nid in self.seen_ids:
                self.err(f"{path}.id", f"duplicate node id {_shown(nid)}")
                continue
            self.seen_ids.add(nid)
            problem = node_id_problem(nid)
            if problem:  # a keyword, an nn.Module attribute…: give it a name that works
                new = free_id(nid, all_ids | set(self.renamed.values()), "node")
                self.renamed[nid] = new
                self.notes.append(f"{path}.id: {problem}; renamed to {new!r}")
            type_id = item.get("type")
            if not isinstance(type_id, str) or type_id not in self.registry:
                self.err(f"{path}.type", f"unknown block type {_shown(type_id)}")
                continue
            block = self.registry.get(type_id)
            params = item.get("params", {})
            clean: dict[str, Any] = {}
            if not isinstance(params, dict):
                self.err(f"{path}.params", f"expected an object, got {_kind(params)}")
            else:  # one by one, to report each bad value; add_node fills in the defaults
                for key, value in params.items():
                    try:
                        clean.update(block.validate({key: value}, partial=True))
                    except InvalidParamError as exc:
                        self.err(f"{path}.params.{key}", exc.reason)
            pos = item.get("position", [0.0, 0.0])
            if (
                not isinstance(pos, list)
                or len(pos) != 2
                or not all(_finite_number(v) for v in pos)
            ):
                self.err(f"{path}.position", f"expected [x, y] numbers, got {_shown(pos)}")
                pos = [0.0, 0.0]
            label = item.get("label", "")
            if not isinstance(label, str):
                self.err(f"{path}.label", f"expected text, got {_kind(label)}")
                label = ""
            mpath = item.get("path", "")
            problem = module_path_problem(mpath) if mpath != "" else None
            if problem:
                self.err(f"{path}.path", problem)
                mpath = ""
            learning = self._learning(item, path)
            self.index_of[self.renamed.get(nid, nid)] = i
            out[self.renamed.get(nid, nid)] = (
                block.type_id,
                clean,
                (float(pos[0]), float(pos[1])),
                label,
                mpath,
                learning,
            )
        names = {nid: node[4] or nid for nid, node in out.items()}
        for nid, why in module_name_clashes(names):
            self.err(f"$.nodes[{self.index_of[nid]}].path", why)
        return out

    def _learning(self, item: dict, path: str) -> Learning:
        trainable = item.get("trainable", True)
        if not isinstance(trainable, bool):
            self.err(f"{path}.trainable", f"expected true or false, got {_shown(trainable)}")
            trainable = True
        lr_mult = item.get("lr_mult", 1.0)
        try:
            return Learning(trainable, lr_mult)
        except InvalidParamError as exc:
            self.err(f"{path}.lr_mult", exc.reason)
            return Learning(trainable)

    def _edges(self, raw: Any, nodes: dict) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        if not isinstance(raw, list):
            self.err("$.edges", f"expected a list of edges, got {_kind(raw)}")
            return out
        taken: dict[tuple[str, int], int] = {}
        import networkx as nx  # imported when a file is read, not at start-up

        dag = nx.DiGraph()
        for i, item in enumerate(raw):
            path = f"$.edges[{i}]"
            if not isinstance(item, dict):
                self.err(path, f"expected an object, got {_kind(item)}")
                continue
            for key in item:  # a misspelt "port" would otherwise mean port 0
                if key not in ("src", "dst", "port"):
                    self.err(f"{path}.{key}", "unknown field")
            src, dst, port = item.get("src"), item.get("dst"), item.get("port", 0)
            if isinstance(src, str) and isinstance(dst, str):
                src, dst = self.renamed.get(src, src), self.renamed.get(dst, dst)
            bad = False
            for key, value in (("src", src), ("dst", dst)):
                if not isinstance(value, str):  # found by tests/reliability/test_file_fuzz.py
                    self.err(f"{path}.{key}", f"expected a node name, got {_kind(value)}")
                    bad = True
                elif value not in nodes:
                    if value not in self.seen_ids:  # else the node's own problem is reported
                        self.err(f"{path}.{key}", f"no node named {_shown(value)} (dangling edge)")
                    bad = True
            if isinstance(port, bool) or not isinstance(port, int) or port < 0:
                self.err(f"{path}.port", f"expected a port number ≥ 0, got {_shown(port)}")
                bad = True
            if bad:
                continue
            block = self.registry.get(nodes[dst][0])
            n_ports = block.num_inputs({**block.defaults(), **nodes[dst][1]})
            if port >= n_ports:
                self.err(f"{path}.port", f"{dst} has {n_ports} input port(s), not port {port}")
                continue
            if (dst, port) in taken:
                self.err(
                    path,
                    f"input port {port} of {dst} is already fed by $.edges[{taken[dst, port]}]",
                )
                continue
            taken[dst, port] = i
            dag.add_edge(src, dst)
            out.append((src, dst, port))
        if not nx.is_directed_acyclic_graph(dag):
            cycle = nx.find_cycle(dag)
            self.err(
                "$.edges",
                "the edges form a cycle: "
                + " → ".join(str(e[0]) for e in cycle)
                + f" → {cycle[0][0]}",
            )
        return out


def _repair(text: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def _finite_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(float(v)) and abs(float(v)) < 1e12
    except OverflowError:
        return False


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters (a file may hold a
    400-digit number or a megabyte of text where a name belongs)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), "a number")
