"""Node ids that cannot name a module (keywords, nn.Module attributes, names that change under
NFKC normalisation) are refused by the graph and renamed by the loader, with a note; numbers
too large for a float are refused with their path; lone surrogates are replaced, so whatever
loads also saves, checks, compiles and exports."""

from __future__ import annotations

import json
import keyword

import pytest
import torch
from torch import fx, nn

import presets
from app.cli import main
from app.core.compiler import compile_graph
from app.core.errors import DuplicateNodeError, InvalidNodeIdError
from app.core.export.model_code import export_model_code
from app.core.names import GENERATED_NAMES, MODULE_ATTRIBUTES, free_id, node_id_problem
from app.core.serialization import Project, ProjectFileError, loads, save, to_json
from app.core.shapes import check
from tests.helpers import chain, image

HOSTILE_IDS = [
    "class",
    "if",
    "True",
    "None",
    "lambda",
    "training",
    "forward",
    "float",
    "to",
    "type",
    "modules",
    "add_module",
    "zero_grad",
    "_modules",
    "_parameters",
    "self",
    "x",
    "out",
    "torch",
    "nn",
    "ｘ",  # fullwidth x: Python reads it as x
    "ﬁlter",  # the fi ligature
    "ｃｏｎｖ",
]


def test_module_attributes_cover_torch():
    g = fx.Graph()
    g.output(g.placeholder("x"))
    module = fx.GraphModule(nn.Module(), g)
    public = {n for n in dir(module) + dir(nn.Module()) if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


@pytest.mark.parametrize("node_id", HOSTILE_IDS)
def test_graph_refuses_reserved_ids(node_id):
    graph = chain(image(1, 8, 8), ("relu", {}))
    assert node_id_problem(node_id)
    with pytest.raises(InvalidNodeIdError) as info:
        graph.add_node("relu", node_id=node_id)
    assert isinstance(info.value, DuplicateNodeError)  # callers catching the old type still do
    with pytest.raises(InvalidNodeIdError):
        graph.rename_node("relu_1", node_id)
    assert "relu_1" in graph


def test_ordinary_ids_are_fine():
    for nid in ("conv2d_1", "stem", "layer1_0_conv1", "卷积", "fc", "match", "case"):
        assert node_id_problem(nid) is None, nid


def test_free_id_is_valid_and_unused():
    taken = {"training_1"}
    assert free_id("training", taken, "relu") == "training_2"
    assert free_id("ｘ", set(), "relu") == "x_1"
    assert free_id("_modules", set(), "relu") == "modules_1"
    for nid in HOSTILE_IDS:
        new = free_id(nid, set(), "relu")
        assert node_id_problem(new) is None, (nid, new)


def lenet_doc() -> dict:
    return json.loads(to_json(Project(presets.get("lenet5").build(), "LeNet-5")))


def with_ids(doc: dict, mapping: dict[str, str]) -> dict:
    for node in doc["nodes"]:
        node["id"] = mapping.get(node["id"], node["id"])
    for edge in doc["edges"]:
        edge["src"] = mapping.get(edge["src"], edge["src"])
        edge["dst"] = mapping.get(edge["dst"], edge["dst"])
    return doc


@pytest.fixture(scope="module")
def renamed_project():
    doc = lenet_doc()
    ids = [n["id"] for n in doc["nodes"]]
    # every node but Input and Output gets a hostile id; one of them the name of the new id
    hostile = ["class", "training", "ｘ", "forward", "_modules", "torch", "to", "ﬁlter"]
    mapping = dict(zip(ids[1:-1], [*hostile, "training_1", "type", "self", "out"], strict=False))
    return loads(json.dumps(with_ids(doc, mapping))), mapping


def test_loader_renames_with_a_note_and_keeps_the_structure(renamed_project):
    project, mapping = renamed_project
    original = presets.get("lenet5").build()
    assert len(project.graph) == len(original)
    assert sum(1 for _ in project.graph.edges()) == sum(1 for _ in original.edges())
    assert all(node_id_problem(n) is None for n in project.graph.nodes)
    assert "training_1" in project.graph  # an id the file used itself keeps its name
    notes = "\n".join(project.notes)
    for bad in mapping.values():
        if node_id_problem(bad):
            assert repr(bad) in notes
    assert "renamed to" in notes
    assert check(project.graph).ok


def test_renamed_project_compiles_exports_and_agrees(renamed_project, tmp_path):
    project, _ = renamed_project
    model = compile_graph(project.graph).eval()
    x = torch.randn(2, 1, 28, 28)
    scope: dict = {}
    exec(compile(export_model_code(project.graph, "Hostile"), "model.py", "exec"), scope)
    exported = scope["Hostile"]()
    assert set(exported.state_dict()) == set(model.state_dict())
    exported.load_state_dict(model.state_dict())
    exported.eval()
    torch.testing.assert_close(exported(x), model(x))
    save(project, tmp_path / "fixed.json")  # the repaired file saves and loads without notes
    again = loads((tmp_path / "fixed.json").read_text())
    assert again.notes == [] and again.graph == project.graph


def test_cli_check_of_keyword_ids_reports_and_exits_0(tmp_path, capsys):
    path = tmp_path / "kw.json"
    path.write_text(json.dumps(with_ids(lenet_doc(), {"conv2d_1": "class", "relu_1": "if"})))
    assert main(["check", str(path)]) == 0
    captured = capsys.readouterr()
    assert "renamed to 'class_1'" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize(
    "where",
    [
        ("training", "lr"),
        ("view", "zoom"),
        ("training", "milestones"),
    ],
)
def test_numbers_too_large_are_refused_with_their_path(where):
    doc = lenet_doc()
    doc[where[0]][where[1]] = "BIG"
    text = json.dumps(doc).replace('"BIG"', "1e400")
    with pytest.raises(ProjectFileError) as info:
        loads(text)
    assert any(p.startswith(f"$.{where[0]}.{where[1]}") for p in info.value.problems)
    with pytest.raises(ProjectFileError):
        loads(json.dumps(doc).replace('"BIG"', "[1, -1e999]"))


def test_lone_surrogates_are_replaced_so_the_project_saves(tmp_path, capsys):
    doc = lenet_doc()
    doc["name"] = "Le\ud800Net"
    doc["description"] = "bad \udfff text"
    doc["nodes"][1]["label"] = "conv \ud83d"
    doc["training"] = {"data_dir": "/data/\udc80x"}
    doc["view"] = {"k\ud800": 1}
    text = json.dumps(doc)  # ensure_ascii: the surrogates are \\u escapes, as a crafted file has
    project = loads(text)
    assert project.name == "Le\ufffdNet" and "\ufffd" in project.graph.nodes["conv2d_1"].label
    assert project.training["data_dir"] == "/data/\ufffdx" and "k\ufffd" in project.view
    assert len(project.notes) == 5
    path = tmp_path / "p.json"
    save(project, path)
    assert loads(path.read_bytes()).name == "Le\ufffdNet"
    assert main(["check", str(path)]) == 0  # text mode prints the name
    path.write_text(text)
    assert main(["check", str(path)]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_keyword_list_is_complete():
    for kw in keyword.kwlist:
        assert node_id_problem(kw)
    assert {"x", "out", "torch", "nn", "self"} <= GENERATED_NAMES


def test_safe_text_keeps_one_line_without_quotes_and_cuts_at_the_limit():
    from app.core.names import safe_text

    assert safe_text("a \"b\" 'c' \\d\n\t e") == "a b c d e"
    assert safe_text("a\ud800b") == "ab"  # a lone surrogate is not printable
    assert safe_text("x" * 200) == "x" * 200  # the default limit: 200 characters
    assert safe_text("x" * 201) == "x" * 199 + "…"
    assert safe_text("abcdef", 4) == "abc…"
    assert safe_text("abcd", 4) == "abcd"
    assert safe_text("XOX") == "XOX"


def test_has_surrogate_is_exactly_the_surrogate_range():
    from app.core.names import has_surrogate

    assert has_surrogate("a\ud800") and has_surrogate("\udfff")
    assert not has_surrogate("\ue000") and not has_surrogate("\ud7ff")


@pytest.mark.parametrize(
    ("wanted", "taken", "fallback", "expected"),
    [
        ("training", set(), "node", "training_1"),
        ("bad id!", {"bad_id_1"}, "node", "bad_id_2"),
        ("a_b", set(), "node", "a_b_1"),
        ("çonv", set(), "conv2d", "onv_1"),  # letters outside ASCII are replaced
        ("3x", set(), "conv2d", "conv2d_3x_1"),
        ("___", set(), "relu", "relu_1"),
        ("Xray_", set(), "node", "Xray_1"),  # only underscores are stripped
        (None, set(), "node", "node_1"),
    ],
)
def test_free_id_by_example(wanted, taken, fallback, expected):
    from app.core.names import free_id

    assert free_id(wanted, taken, fallback) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("layer1.0.conv1", None),
        ("0.weight_block", None),
        ("trunk.block1-0", None),
        ("", "module path '' is empty or not text"),
        (None, "module path None is empty or not text"),
        ("for.a", "module path 'for.a': part 'for' is a Python keyword"),
        (
            "_a.b",
            "module path '_a.b': part '_a' starts with '_' (reserved for PyTorch's internals)",
        ),
        ("a._b", "module path 'a._b': part '_b' starts with '_'"),
        ("a.forward", "module path 'a.forward': part 'forward' is an nn.Module attribute"),
        ("a..b", "module path 'a..b': part '' is empty or not printable"),
        ("a.b\n", "module path 'a.b\\n': part 'b\\n' is empty or not printable"),
    ],
)
def test_module_path_problems_word_for_word(path, expected):
    from app.core.names import module_path_problem

    assert module_path_problem(path) == expected


def test_a_module_name_used_as_any_group_clashes():
    from app.core.names import module_name_clashes

    names = {"x": "a.b.c", "y": "a.b", "z": "a", "w": "d"}
    assert module_name_clashes(names) == [
        ("y", "y: module name 'a.b' is also the group of other nodes' paths"),
        ("z", "z: module name 'a' is also the group of other nodes' paths"),
    ]
    assert module_name_clashes({"x": "a.b", "y": "a.b"}) == [
        ("y", "y: module name 'a.b' is also x's")
    ]
