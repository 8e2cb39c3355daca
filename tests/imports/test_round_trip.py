"""Code → canvas → code: every preset exported as PyTorch code imports back as the same graph
(module names, blocks, parameters, connections) with the same ``state_dict``, and exporting
the import again writes the same file, byte for byte."""

from __future__ import annotations

import pytest

import presets
from app.core.export.model_code import export_model_code
from app.core.graph import Graph
from app.core.imports.fx_map import import_model
from app.core.imports.sources import load_source
from app.core.shapes import check


def canonical(graph: Graph) -> list[tuple]:
    """Each node in execution order: its module name (none for Input, Output and the
    operators written inline, whose ids are the editor's), block, parameters, and which of
    the earlier nodes feed it."""
    report = check(graph)
    assert report.ok, [p.message for p in report.errors]
    names = graph.module_names()
    index = {nid: i for i, nid in enumerate(report.order)}
    rows = []
    for nid in report.order:
        node = graph.nodes[nid]
        named = (
            node.type_id not in ("input", "output") and not graph.registry.get(node.type_id).inline
        )
        sources = tuple(index[s] for s in graph.inputs_of(nid) if s is not None)
        rows.append((names[nid] if named else "", node.type_id, dict(node.params), sources))
    return rows


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_exports_imports_and_exports_again_unchanged(name, tmp_path):
    preset = presets.get(name)
    graph = preset.build()
    code = export_model_code(graph, preset.title)
    path = tmp_path / "exported.py"
    path.write_text(code, encoding="utf-8")
    model, _ = load_source(str(path))
    shape = check(graph).nodes["input_1"].shape
    # the same graph with the same weights computes the same: the logits are compared by
    # tests/imports/test_torchvision.py and test_user_models.py
    result = import_model(model, shape, verify=False)
    assert canonical(result.graph) == canonical(graph)
    assert list(result.state) == list(model.state_dict())
    assert export_model_code(result.graph, preset.title) == code
