"""Fuzzing the project-file loader with mutated real files.

Every mutation of a real project file (truncated, bytes flipped, wrong types, unknown blocks,
missing fields, huge numbers, negative sizes, duplicate ids, dangling edges, cycles, non-UTF-8,
deep nesting) must either load into a complete, valid project or raise ProjectFileError with
at least one message: never another exception, never a half-built graph.

Hostile mutations (tests/reliability/hostile.py) go further: node ids that are keywords,
nn.Module attributes or NFKC look-alikes, names that try to end a docstring or take a class's
name, numbers too large for a float, lone surrogates. Every such file that loads must also save,
check, compile and run forward, and export to code that runs with the compiled weights.

CI runs a bounded number; ``NETBUILDER_FUZZ_EXAMPLES=5000 pytest tests/reliability`` more.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import presets
from app.core.compiler import compile_graph
from app.core.export.model_code import class_name, export_model_code
from app.core.serialization import Project, ProjectFileError, loads, save, to_json
from app.core.shapes import check
from tests.reliability.hostile import hostile_files

EXAMPLES = int(os.environ.get("NETBUILDER_FUZZ_EXAMPLES", "300"))
SOURCES = [
    to_json(Project(presets.get(name).build(), name, {"epochs": 3, "lr": 0.1}))
    for name in ("lenet5", "resnet18_cifar", "googlenet_cifar", "squeezenet_cifar")
]
PIPELINE_SOURCES = [
    to_json(Project(presets.get(name).build(), name, {"epochs": 3, "lr": 0.1}))
    for name in ("lenet5", "mlp", "squeezenet_cifar", "nin_cifar")
]
WEIRD = [None, True, -1, 0, 10**30, -(10**30), 1e308, 2.5, "", "x" * 300, [], {}, [1, 2], "same"]


def _paths(doc, prefix=()):
    """Every (container, key) path in a JSON document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _parent(doc, path):
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_files(draw) -> bytes:
    text = draw(st.sampled_from(SOURCES))
    kind = draw(
        st.sampled_from(
            [
                "truncate",
                "bytes",
                "value",
                "delete",
                "duplicate",
                "dangling",
                "cycle",
                "utf8",
                "nest",
                "hostile",
            ]
        )
    )
    if kind == "hostile":
        return draw(hostile_files(tuple(SOURCES)))
    if kind == "truncate":
        return text.encode()[: draw(st.integers(0, len(text) - 1))]
    if kind == "bytes":
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "utf8":
        data = text.encode()
        at = draw(st.integers(0, len(data)))
        return data[:at] + b"\xff\xfe\xc3" + data[at:]
    if kind == "nest":
        depth = draw(st.integers(100, 5000))
        return (
            ("[" * depth + "]" * depth).encode()
            if draw(st.booleans())
            else (text[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}").encode()
        )
    doc = json.loads(text)
    paths = list(_paths(doc))
    if kind == "value":
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            _parent(doc, path)[path[-1]] = copy.deepcopy(draw(st.sampled_from(WEIRD)))
            paths = list(_paths(doc))
    elif kind == "delete":
        path = draw(st.sampled_from(paths))
        container = _parent(doc, path)
        del container[path[-1]]
    elif kind == "duplicate":
        node = copy.deepcopy(draw(st.sampled_from(doc["nodes"])))
        doc["nodes"].insert(draw(st.integers(0, len(doc["nodes"]))), node)
    elif kind == "dangling":
        edge = copy.deepcopy(draw(st.sampled_from(doc["edges"])))
        edge[draw(st.sampled_from(["src", "dst"]))] = draw(st.sampled_from(["nope", "", "x" * 80]))
        doc["edges"].append(edge)
    elif kind == "cycle":
        ids = [n["id"] for n in doc["nodes"]]
        i = draw(st.integers(1, len(ids) - 1))
        j = draw(st.integers(0, i - 1))
        doc["edges"].append({"src": ids[i], "dst": ids[j], "port": 0})
    return json.dumps(doc).encode()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_files())
def test_mutated_files_load_completely_or_fail_clearly(data):
    try:
        project = loads(data, source="fuzzed.json")
    except ProjectFileError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    # loaded: a complete graph that survives its own round trip
    graph = project.graph
    doc = json.loads(data)
    assert len(graph) == len(doc["nodes"])
    assert sum(1 for _ in graph.edges()) == len(doc["edges"])
    check(graph)  # the shape pass copes with whatever loaded
    assert loads(to_json(project)).graph == graph


@settings(
    max_examples=max(50, EXAMPLES // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_files(tuple(PIPELINE_SOURCES)))
def test_what_loads_saves_checks_compiles_and_exports(data):
    """Whatever the loader accepts goes through everything a user does next."""
    try:
        project = loads(data, source="hostile.json")
    except ProjectFileError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        event("refused with typed problems")
        return
    event("loaded" + (" with repairs" if project.notes else ""))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "saved.json"
        save(project, path)  # never unsavable (surrogates, infinities)
        again = loads(path.read_bytes())
        assert again.graph == project.graph and again.notes == []
    report = check(project.graph)
    assert report.ok, [p.message for p in report.errors]  # the sources are valid networks
    model = compile_graph(project.graph, report).eval()
    x = torch.randn(2, *report.nodes[report.input_id].shape)
    with torch.no_grad():
        expected = model(x)
    code = export_model_code(project.graph, project.name, report)
    scope: dict = {"__name__": "fuzzed_export"}
    exec(compile(code, "fuzzed_export.py", "exec"), scope)
    exported = scope[class_name(project.name)]()
    exported.load_state_dict(model.state_dict())  # same keys: compiler and exporter agree
    with torch.no_grad():
        torch.testing.assert_close(exported.eval()(x), expected)
