"""Hypothesis strategy: real project files with hostile content put in (issue 15).

Node ids that are keywords, nn.Module attributes or NFKC look-alikes; project names and labels
that try to end a docstring or take a class's name; numbers too large for a float; lone
surrogates in names, labels, paths and keys.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

HOSTILE_IDS = [
    "class", "if", "True", "lambda", "None",
    "training", "forward", "float", "to", "type", "modules", "add_module", "zero_grad",
    "_modules", "_parameters", "__init__", "self", "x", "out", "torch", "nn",
    "ｘ", "ﬁlter", "ｃｏｎｖ２ｄ_1", "training_1",
]  # fmt: skip
HOSTILE_NAMES = [
    '"""',
    '"""\nimport os\nos.system("echo pwned")\n"""',
    "'''",
    "\\",
    "None",
    "True",
    "class",
    "Fire",
    "ConvUnit",
    "Inception",
    "ResidualBlock",
    "LR",
    "SEED",
    "ValueError",
    "\ud800",
    "a\udfffb",
    "\n\n",
    "x" * 400,
    "0",
    "",
]
SURROGATES = ["\ud800", "a\udc80b", "\udfff\ud800"]
#: replaced, after json.dumps, by a literal it cannot write
BIG = "__BIG_NUMBER__"
BIG_LITERALS = ["1e400", "-1e999", "NaN", "Infinity", "1e308"]


def _rename(doc: dict, old: str, new: str) -> None:
    for node in doc["nodes"]:
        node["id"] = new if node["id"] == old else node["id"]
    for edge in doc["edges"]:
        for end in ("src", "dst"):
            edge[end] = new if edge[end] == old else edge[end]


@st.composite
def hostile_files(draw, sources: tuple[str, ...]) -> bytes:
    """One of ``sources`` (project JSON text) with one to four hostile changes."""
    doc = json.loads(draw(st.sampled_from(sources)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["node_id", "name", "number", "surrogate"]))
        node = draw(st.sampled_from(doc["nodes"]))
        if kind == "node_id":
            _rename(doc, node["id"], draw(st.sampled_from(HOSTILE_IDS)))
        elif kind == "name":
            where = draw(st.sampled_from(["name", "description", "label"]))
            text = draw(st.sampled_from(HOSTILE_NAMES))
            if where == "label":
                node["label"] = text
            else:
                doc[where] = text
        elif kind == "number":
            where = draw(st.sampled_from(["training", "view", "position"]))
            if where == "position":
                node["position"][draw(st.integers(0, 1))] = BIG
            else:
                doc[where][draw(st.sampled_from(["lr", "zoom", "epochs", "k"]))] = BIG
        else:
            text = draw(st.sampled_from(SURROGATES))
            where = draw(st.sampled_from(["name", "label", "data_dir", "view_key"]))
            if where == "label":
                node["label"] = text
            elif where == "data_dir":
                doc["training"]["data_dir"] = text
            elif where == "view_key":
                doc["view"][text] = 1
            else:
                doc["name"] = text
    literal = draw(st.sampled_from(BIG_LITERALS))
    return json.dumps(doc).replace(f'"{BIG}"', literal).encode()
