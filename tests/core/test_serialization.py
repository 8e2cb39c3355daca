"""Project files: byte-identical round trips, atomic saves, every problem reported."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import presets
from app.core import serialization
from app.core.graph import Learning
from app.core.serialization import Project, ProjectFileError, load, loads, save, to_json
from tests.helpers import chain, image


@pytest.mark.parametrize("name", presets.names())
def test_round_trip_is_byte_identical(tmp_path, name):
    g = presets.get(name).build()
    g.set_label(next(iter(g.nodes)), "images in")
    project = Project(g, name, training={"epochs": 3}, view={"zoom": 1.5})
    path = tmp_path / "p.json"
    save(project, path)
    first = path.read_bytes()
    again = load(path)
    assert again.graph == g
    assert (again.name, again.training, again.view) == (name, {"epochs": 3}, {"zoom": 1.5})
    save(again, path)
    assert path.read_bytes() == first


def test_file_is_readable_json():
    g = chain(image(), ("conv2d", {"padding": "same"}))
    doc = json.loads(to_json(Project(g)))
    assert doc["format"] == "netbuilder-project" and doc["version"] == 3
    assert doc["nodes"][1]["params"]["padding"] == "same"
    assert doc["edges"] == [{"src": "input_1", "dst": "conv2d_1", "port": 0}]


def test_save_is_atomic_when_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    save(Project(chain(image())), path)
    before = path.read_bytes()

    def boom(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialization.os, "replace", boom)
    with pytest.raises(OSError):
        save(Project(chain(image(), ("relu", {}))), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.json"]  # no temporary file left behind


def test_save_is_atomic_when_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    save(Project(chain(image())), path)
    before = path.read_bytes()
    monkeypatch.setattr(serialization.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5)))
    with pytest.raises(OSError):
        save(Project(chain(image(), ("relu", {}))), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.json"]


def problems_of(text: str | bytes) -> list[str]:
    with pytest.raises(ProjectFileError) as info:
        loads(text)
    return info.value.problems


def good_doc() -> dict:
    return json.loads(to_json(Project(chain(image(), ("conv2d", {}), ("relu", {})))))


def test_reports_every_problem_with_its_path():
    doc = good_doc()
    doc["nodes"][1]["params"]["kernel_h"] = 0
    doc["nodes"][1]["params"]["stride"] = "fast"
    doc["nodes"][2]["type"] = "warp_drive"
    doc["edges"].append({"src": "input_1", "dst": "nowhere", "port": 0})
    doc["edges"][0]["port"] = 5
    problems = problems_of(json.dumps(doc))
    assert problems == [
        "$.nodes[1].params.kernel_h: 0 is below the minimum 1",
        "$.nodes[1].params.stride: expected a whole number, got 'fast'",
        "$.nodes[2].type: unknown block type 'warp_drive'",
        "$.edges[0].port: conv2d_1 has 1 input port(s), not port 5",
        "$.edges[2].dst: no node named 'nowhere' (dangling edge)",
    ]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["nodes"].append(dict(d["nodes"][0])), "$.nodes[3].id: duplicate node id"),
        (
            lambda d: d["edges"].append({"src": "relu_1", "dst": "conv2d_1", "port": 0}),
            "already fed by $.edges[0]",
        ),
        (lambda d: d.update(version=99), "written by a newer NetBuilder"),
        (lambda d: d.update(format="other"), "not a NetBuilder project"),
        (lambda d: d.update(nodes={}), "$.nodes: expected a list of nodes, got an object"),
        (lambda d: d["nodes"][0].update(position=[1, "x"]), "$.nodes[0].position"),
        (lambda d: d["nodes"][0].update(position=[1e300, 0]), "$.nodes[0].position"),
        (lambda d: d["nodes"][0].update(id="a b"), "$.nodes[0].id: expected a Python identifier"),
        (lambda d: d["nodes"][1]["params"].update(out_channels=10**30), "above the maximum"),
        (lambda d: d["nodes"][1]["params"].update(padding=-1), "below the minimum"),
        (lambda d: d.update(training=[]), "$.training: expected an object"),
        (lambda d: d.update(extra=1), "$.extra: unknown field"),
    ],
)
def test_invalid_documents(mutate, expected):
    doc = good_doc()
    mutate(doc)
    assert any(expected in p for p in problems_of(json.dumps(doc))), problems_of(json.dumps(doc))


def test_cycle_in_file_is_refused():
    doc = good_doc()
    doc["nodes"].append({"id": "add_1", "type": "add", "params": {}, "position": [0, 0]})
    doc["edges"] = [
        {"src": "input_1", "dst": "add_1", "port": 0},
        {"src": "add_1", "dst": "conv2d_1", "port": 0},
        {"src": "conv2d_1", "dst": "relu_1", "port": 0},
        {"src": "relu_1", "dst": "add_1", "port": 1},
    ]
    (problem,) = problems_of(json.dumps(doc))
    assert problem.startswith("$.edges: the edges form a cycle")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"[1, 2]", "$: expected a JSON object, got a list"),
        (b'{"format": "netbuilder-project", "nodes": [', "the file looks truncated"),
        (b'{"a": NaN}', "NaN is not allowed"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_files(data, expected):
    (problem,) = problems_of(data)
    assert expected in problem


def test_truncated_real_file_never_half_loads(tmp_path):
    text = to_json(Project(presets.get("resnet18_cifar").build()))
    for cut in range(0, len(text) - 2, max(1, len(text) // 60)):
        with pytest.raises(ProjectFileError):
            loads(text[:cut])


def _message(path, **kwargs) -> str:
    with pytest.raises(ProjectFileError) as info:
        load(path, **kwargs)
    return str(info.value)


def test_load_missing_folder_unreadable_and_broken_files_name_the_file(tmp_path, monkeypatch):
    head = "cannot open project (1 problem(s)):\n  - "
    missing = tmp_path / "missing.json"
    assert _message(missing) == f"{missing}: {head}file not found"
    assert _message(tmp_path) == f"{tmp_path}: {head}this is a folder, not a project file"
    broken = tmp_path / "broken.json"
    broken.write_text("")
    assert _message(broken) == f"{broken}: {head}the file is empty"
    save(Project(chain(image(), ("relu", {}))), broken)

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert _message(broken) == f"{broken}: {head}cannot read: Permission denied"


def test_load_reads_with_the_registry_it_is_given(tmp_path):
    from blocks import REGISTRY
    from blocks.base import Registry

    path = tmp_path / "net.json"
    save(Project(chain(image(), ("relu", {}))), path)
    inputs_only = Registry()
    inputs_only.add(REGISTRY.get("input"))
    assert _message(path, registry=inputs_only).endswith(
        "$.nodes[1].type: unknown block type 'relu'"
    )


def test_a_message_without_a_file_name_starts_with_the_problem():
    with pytest.raises(ProjectFileError) as info:
        loads(b"")
    assert str(info.value) == "cannot open project (1 problem(s)):\n  - the file is empty"
    assert info.value.source == "" and info.value.problems == ["the file is empty"]


def test_save_writes_a_hidden_temporary_beside_the_file_then_renames_it(tmp_path, monkeypatch):
    renames = []
    real = os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "net.json"
    save(Project(chain(image(), ("relu", {}))), target)
    ((src, dst),) = renames
    assert dst == target and src.parent == tmp_path  # same folder: the rename is atomic
    assert src.name.startswith(".net.json.") and src.name.endswith(".tmp")
    assert list(tmp_path.iterdir()) == [target]


def test_a_failed_rename_reports_its_own_error_when_the_temporary_is_gone(tmp_path, monkeypatch):
    def vanish(src, dst):
        Path(src).unlink()  # e.g. a cleaner removed it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", vanish)
    with pytest.raises(OSError, match="No space left on device"):
        save(Project(chain(image(), ("relu", {}))), tmp_path / "net.json")


def test_settings_that_are_not_json_numbers_are_refused_when_saving():
    project = Project(chain(image(), ("relu", {})), training={"lr": float("nan")})
    with pytest.raises(ValueError, match="not JSON compliant"):
        to_json(project)


def test_block_alias_loads_as_canonical_type():
    from blocks import REGISTRY

    doc = good_doc()
    assert REGISTRY.canonical("relu") == "relu"
    project = loads(json.dumps(doc))
    assert project.graph.node("relu_1").type_id == "relu"


def test_loading_does_not_walk_reachability_per_edge(monkeypatch):
    """Edges listed in reverse order made loading quadratic (a downstream walk per edge: 4,000
    nodes took over 10 s); the loader checks acyclicity once for the whole set
    (bench/load.py measures it)."""
    from app.core.graph import Graph

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from load import chain_file

    calls = []
    original = Graph.downstream
    monkeypatch.setattr(Graph, "downstream", lambda self, n: calls.append(n) or original(self, n))
    project = loads(chain_file(300, reverse=True))
    assert len(project.graph) == 300 and sum(1 for _ in project.graph.edges()) == 299
    project.graph.copy()
    assert calls == []
    with pytest.raises(ProjectFileError, match="cycle"):  # the one check still catches cycles
        doc = json.loads(chain_file(10, reverse=True))
        doc["edges"].append({"src": "relu_5", "dst": "relu_2", "port": 1})
        doc["nodes"] = [n if n["id"] != "relu_2" else {**n, "type": "add"} for n in doc["nodes"]]
        loads(json.dumps(doc))


def _with_paths():
    g = chain(image(), ("conv2d", {}), ("relu", {}), ("flatten", {}), ("linear", {}))
    conv, relu, _, fc = list(g.nodes)[1:]
    g.set_path(conv, "features.0")
    g.set_path(relu, "features.1")
    g.set_path(fc, "classifier.0")
    return g


def test_module_paths_round_trip_and_are_saved_only_when_set(tmp_path):
    g = _with_paths()
    text = to_json(Project(g))
    doc = json.loads(text)
    assert [n.get("path") for n in doc["nodes"]] == [
        None,
        "features.0",
        "features.1",
        None,
        "classifier.0",
    ]
    again = loads(text)
    assert again.graph == g
    assert [n.path for n in again.graph.nodes.values()] == [n.path for n in g.nodes.values()]
    assert to_json(again) == text


def test_a_version_1_file_loads_with_no_paths_and_saves_as_the_current_version():
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    doc = json.loads(to_json(Project(g)))
    doc["version"] = 1
    old = loads(json.dumps(doc))
    assert old.graph == g and all(n.path == "" for n in old.graph.nodes.values())
    assert json.loads(to_json(old))["version"] == serialization.VERSION
    # version 1 had no paths: a "path" there is as unknown as any other field
    doc["nodes"][1]["path"] = "features.0"
    with pytest.raises(ProjectFileError, match=r"\$\.nodes\[1\]\.path: unknown field"):
        loads(json.dumps(doc))


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["features.0", "features.0"], r"\$\.nodes\[2\]\.path: .*'features\.0' is also"),
        (["features", "features.1"], r"\$\.nodes\[1\]\.path: .*'features' is also the group"),
        (["features.forward", ""], r"\$\.nodes\[1\]\.path: .*'forward' is an nn\.Module attribute"),
        (["a..b", ""], r"\$\.nodes\[1\]\.path: .*part '' is empty"),
        (["", "conv2d_1"], r"\$\.nodes\[2\]\.path: .*'conv2d_1' is also conv2d_1's"),
    ],
)
def test_bad_or_clashing_paths_are_refused(paths, expected):
    g = chain(image(), ("conv2d", {}), ("relu", {}))
    doc = json.loads(to_json(Project(g)))
    for item, path in zip(doc["nodes"][1:], paths, strict=True):
        if path:
            item["path"] = path
    with pytest.raises(ProjectFileError, match=expected):
        loads(json.dumps(doc))


def test_frozen_nodes_and_multipliers_round_trip_and_are_saved_only_when_set():
    g = chain(image(), ("conv2d", {}), ("relu", {}), ("flatten", {}), ("linear", {}))
    g.set_learning("conv2d_1", Learning(trainable=False))
    g.set_learning("linear_1", Learning(lr_mult=0.1))
    text = to_json(Project(g))
    nodes = json.loads(text)["nodes"]
    assert [(n.get("trainable"), n.get("lr_mult")) for n in nodes] == [
        (None, None),
        (False, None),
        (None, None),
        (None, None),
        (None, 0.1),
    ]
    again = loads(text)
    assert again.graph == g and again.graph.frozen() == {"conv2d_1"}
    assert again.graph.node("linear_1").learning == Learning(True, 0.1)
    assert to_json(again) == text


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("trainable", "no", r"\$\.nodes\[1\]\.trainable: expected true or false, got 'no'"),
        ("lr_mult", 0, r"\$\.nodes\[1\]\.lr_mult: expected a number above 0 and at most 100"),
        ("lr_mult", "fast", r"\$\.nodes\[1\]\.lr_mult: expected a number above 0"),
        ("lr_mult", True, r"\$\.nodes\[1\]\.lr_mult: expected a number above 0"),
    ],
)
def test_bad_learning_fields_are_refused_with_their_path(field, value, expected):
    g = chain(image(), ("conv2d", {}))
    doc = json.loads(to_json(Project(g)))
    doc["nodes"][1][field] = value
    with pytest.raises(ProjectFileError, match=expected):
        loads(json.dumps(doc))


def test_a_version_2_file_has_no_learning_fields():
    doc = json.loads(to_json(Project(chain(image(), ("conv2d", {})))))
    doc["version"] = 2
    assert loads(json.dumps(doc)).graph.frozen() == set()
    doc["nodes"][1]["trainable"] = False
    with pytest.raises(ProjectFileError, match=r"\$\.nodes\[1\]\.trainable: unknown field"):
        loads(json.dumps(doc))
