"""Every problem the project loader reports, word for word, for a corpus of broken files: one
per check the loader makes (its ``err`` calls and its unreadable-file messages), some with a
second problem after the first; and, for files it repairs (renamed ids, replaced characters,
defaults filled in), its notes and the exact file the result saves as. The texts are
in loader_problems.json, read and checked by a person when written; after changing a message
on purpose, rewrite it with ``python -m tests.core.test_loader_problems`` and read the
difference. (Mutation testing showed the messages were checked by fragments, if at all.)"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from app.core.serialization import Project, ProjectFileError, loads, to_json
from tests.helpers import chain, image

FILE = Path(__file__).with_name("loader_problems.json")


def good() -> dict:
    doc = json.loads(to_json(Project(chain(image(), ("conv2d", {}), ("relu", {})))))
    doc["nodes"].append({"id": "add_1", "type": "add", "params": {}, "position": [0, 0]})
    return doc


def edit(change: Callable[[dict], object]) -> bytes:
    doc = good()
    change(doc)
    return json.dumps(doc, allow_nan=True).encode()


def both(*changes: Callable[[dict], object]) -> Callable[[dict], object]:
    """Several changes: a second problem after the first shows the loader reads on."""
    return lambda d: [change(d) for change in changes]


def node(i: int, **fields) -> Callable[[dict], object]:
    return lambda d: d["nodes"][i].update(fields)


def edge(i: int, **fields) -> Callable[[dict], object]:
    return lambda d: d["edges"][i].update(fields)


def renamed_ids(d: dict) -> None:
    """Ids that cannot name a module (an nn.Module attribute, a keyword), one of them beside
    the id its new name would take, and edges that use them."""
    ids = {"input_1": "training", "conv2d_1": "training_1", "relu_1": "class", "add_1": "_"}
    for n in d["nodes"]:
        n["id"] = ids.get(n["id"], n["id"])
    for e in d["edges"]:
        e["src"], e["dst"] = ids.get(e["src"], e["src"]), ids.get(e["dst"], e["dst"])


def surrogates(d: dict) -> None:
    d["nodes"][0]["label"] = "in\ud800put\ue000"  # a lone surrogate; a private-use character
    d["view"] = {"\udc00zoom": [1, {"a": ["\ud801"]}], "b": "\udfff"}


CORPUS: dict[str, bytes] = {
    "empty": b"",
    "not UTF-8": b"\xff\xfe\x00garbage",
    "truncated": b'{"format": "netbuilder-project", "nodes": [',
    "NaN": b'{"a": NaN}',
    "nested": b"[" * 100_000,
    "a list": b"[1, 2]",
    "no format": b'{"version": 2}',
    "version bool": edit(lambda d: d.update(version=True)),
    "version zero": edit(lambda d: d.update(version=0)),
    "version text": edit(lambda d: d.update(version="2")),
    "version newer": edit(lambda d: d.update(version=99)),
    "unknown field": edit(lambda d: d.update(extra=1)),
    "name not text": edit(lambda d: d.update(name=3)),
    "description not text": edit(lambda d: d.update(description=["a"])),
    "training not object": edit(lambda d: d.update(training=[])),
    "view not object": edit(lambda d: d.update(view="wide")),
    "huge number": edit(lambda d: None).replace(b'"view": {}', b'"view": {"zoom": 1e400}'),
    "infinity": edit(lambda d: d["view"].update(zoom=float("inf"))),
    "nodes not list": edit(lambda d: d.update(nodes={})),
    "node not object": edit(lambda d: d["nodes"].append(7)),
    "node unknown field": edit(node(1, colour="red")),
    "node id not identifier": edit(node(2, id="a b")),
    "node id duplicate": edit(lambda d: d["nodes"].append(dict(d["nodes"][1]))),
    "node type unknown": edit(node(2, type="warp_drive")),
    "node type a megabyte": edit(node(2, type="x" * 1_000_000)),
    "node type of 60 characters": edit(node(2, type="x" * 58)),  # shown whole: the limit
    "path clash on a renamed node": edit(both(renamed_ids, node(1, path="a.y"), node(2, path="a"))),
    "params not object": edit(node(1, params=[1])),
    "param below minimum": edit(lambda d: d["nodes"][1]["params"].update(kernel_h=0)),
    "param wrong kind": edit(lambda d: d["nodes"][1]["params"].update(stride="fast")),
    "param unknown": edit(lambda d: d["nodes"][1]["params"].update(colour=1)),
    "position short": edit(node(0, position=[1])),
    "position text": edit(node(0, position=[1, "x"])),
    "label not text": edit(node(0, label=5)),
    "path bad": edit(node(1, path="a..b")),
    "path clash": edit(
        lambda d: [d["nodes"][1].update(path="a.y"), d["nodes"][2].update(path="a")]
    ),
    "path twice": edit(
        lambda d: [d["nodes"][1].update(path="a.y"), d["nodes"][2].update(path="a.y")]
    ),
    "path generated name": edit(node(1, path="x.y")),
    "edges not list": edit(lambda d: d.update(edges={})),
    "edge not object": edit(lambda d: d["edges"].append("a")),
    "edge unknown field": edit(edge(0, prot=1)),
    "edge src not text": edit(edge(0, src=3)),
    "edge dangling": edit(edge(0, dst="nowhere")),
    "edge port negative": edit(edge(0, port=-1)),
    "edge port bool": edit(edge(0, port=True)),
    "edge port too high": edit(edge(0, port=5)),
    "edge port taken": edit(lambda d: d["edges"].append({"src": "relu_1", "dst": "conv2d_1"})),
    "edge port taken, then another": edit(
        lambda d: d["edges"].extend(
            [{"src": "relu_1", "dst": "conv2d_1"}, {"src": "relu_1", "dst": "nowhere"}]
        )
    ),
    "format wrong": edit(lambda d: d.update(format="other-app")),
    "json invalid, not truncated": b'{"a": }\n',
    "list truncated": b"[1, 2",
    "name null": edit(lambda d: d.update(name=None)),
    "label true": edit(node(0, label=True)),
    "position 1e12": edit(node(0, position=[1e12, 0])),
    "position too big for a float": edit(node(0, position=[7, 0])).replace(
        b"[7, 0]", b"[1" + b"0" * 400 + b", 0]"
    ),
    "edge dst not text": edit(edge(0, dst=3)),
    "edge src a list": edit(edge(0, src=[])),
    "edge port one too high": edit(edge(0, port=1)),
    "node not object, then another": edit(
        both(lambda d: d["nodes"].insert(1, 7), node(4, label=5))
    ),
    "node id not identifier, then another": edit(both(node(2, id="a b"), node(3, label=5))),
    "node id duplicate, then another": edit(
        lambda d: d["nodes"].extend([dict(d["nodes"][1]), {"id": "x_9", "type": "warp_drive"}])
    ),
    "node type unknown, then another": edit(both(node(1, type="warp_drive"), node(3, label=5))),
    "edge not object, then another": edit(
        lambda d: d["edges"].extend(["a", {"src": "relu_1", "dst": "nowhere"}])
    ),
    "edge port too high, then another": edit(
        both(edge(0, port=5), lambda d: d["edges"].append({"src": "relu_1", "dst": "nowhere"}))
    ),
    "cycle": edit(
        lambda d: d.update(
            edges=[
                {"src": "input_1", "dst": "add_1", "port": 0},
                {"src": "add_1", "dst": "conv2d_1", "port": 0},
                {"src": "conv2d_1", "dst": "relu_1", "port": 0},
                {"src": "relu_1", "dst": "add_1", "port": 1},
            ]
        )
    ),
}


def defaults(d: dict) -> None:
    """What a hand-written file may leave out: positions, parameters, the settings; a
    description and text that is not ASCII."""
    del d["nodes"][1]["position"]
    d["nodes"][1]["params"] = {"out_channels": 4}
    d["nodes"][3]["label"] = "Größe"
    d["edges"].append({"src": "relu_1", "dst": "add_1", "port": 1})
    del d["training"], d["view"]
    d["description"] = "ein Netz"


#: files the loader accepts after repairing them or filling in defaults
REPAIRED: dict[str, bytes] = {
    "renamed ids": edit(renamed_ids),
    "lone surrogates": edit(surrogates),
    "defaults": edit(defaults),
}


def problems() -> dict[str, str]:
    """Each broken file's whole message, as the window shows it (with the file's name)."""
    out = {}
    for name, data in CORPUS.items():
        try:
            loads(data, source=f"{name}.json")
        except ProjectFileError as exc:
            out[name] = str(exc)
        else:
            out[name] = ""
    return out


def repairs() -> dict[str, dict[str, list[str]]]:
    """Each repaired file's notes and the file it saves as."""
    out = {}
    for name, data in REPAIRED.items():
        project = loads(data)
        out[name] = {"notes": project.notes, "saved": to_json(project).split("\n")}
    return out


def recorded() -> dict:
    return {"problems": problems(), "repairs": repairs()}


def test_every_broken_file_reports_what_it_reported_when_checked():
    expected = json.loads(FILE.read_text(encoding="utf-8"))["problems"]
    current = problems()
    assert set(current) == set(expected)
    for name, message in expected.items():
        assert current[name] == message, name


def test_every_broken_file_is_refused():
    assert all(problems().values())


def test_repaired_files_note_what_changed_and_save_as_when_checked():
    expected = json.loads(FILE.read_text(encoding="utf-8"))["repairs"]
    current = repairs()
    assert set(current) == set(expected)
    for name, result in expected.items():
        assert current[name] == result, name


if __name__ == "__main__":
    FILE.write_text(json.dumps(recorded(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {FILE}", file=sys.stderr)
