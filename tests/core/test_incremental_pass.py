"""The shape pass and the cost profile keep per-node results on the graph, so that an edit
recomputes only what it changed. Whatever the edits, a kept pass must give exactly what a
pass over a fresh copy of the graph gives (nothing kept) — including errors, lints, the
output node and every cost figure."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import presets
from app.core.cost import profile
from app.core.errors import GraphError
from app.core.graph import Graph, Learning
from app.core.shapes import check, clear_cache, kept_on
from blocks import REGISTRY, InvalidParamError
from presets.drawn import drawn_resnet
from tests.reliability.oracle import CATALOGUE, graphs, param_value

#: (optimizer, amp, device) combinations the cost is compared under
SETTINGS = (("sgd", "none", "cpu"), ("adam", "bf16", "cuda"), ("rmsprop", "fp16", "cpu"))


def same_as_fresh(graph: Graph) -> None:
    kept = check(graph)
    fresh_graph = graph.copy()  # a copy keeps nothing
    assert "shapes" not in fresh_graph.derived
    fresh = check(fresh_graph)
    assert kept == fresh
    assert kept.problems == fresh.problems  # in the same order
    for optimizer, amp, device in SETTINGS:
        options = {"optimizer": optimizer, "amp": amp, "device": device}
        assert profile(graph, kept, **options) == profile(fresh_graph, fresh, **options)


def edit(data: st.DataObject, graph: Graph) -> str:
    """One random edit a user could make; returns what it was (for the failure report)."""
    kind = data.draw(
        st.sampled_from(["param", "param", "param", "learning", "remove", "cut", "join", "add"])
    )
    nid = data.draw(st.sampled_from(sorted(graph.nodes)))
    try:
        if kind == "param":
            specs = graph.block(nid).params
            if specs:
                spec = data.draw(st.sampled_from(specs))
                graph.set_params(nid, {spec.name: data.draw(param_value(spec))})
        elif kind == "learning":
            graph.set_learning(nid, Learning(data.draw(st.booleans())))
        elif kind == "remove" and graph.nodes[nid].type_id != "input":
            graph.remove_node(nid)
        elif kind == "cut":
            edges = list(graph.edges())
            if edges:
                graph.disconnect(data.draw(st.sampled_from(edges)))
        elif kind == "join":
            graph.connect(data.draw(st.sampled_from(sorted(graph.nodes))), nid)
        elif kind == "add":
            block = REGISTRY.get(data.draw(st.sampled_from(CATALOGUE)))
            node = graph.add_node(
                block.type_id, {p.name: data.draw(param_value(p)) for p in block.params}
            )
            graph.connect(nid, node.id, 0)
    except (InvalidParamError, GraphError):
        return f"{kind} {nid}: refused"
    return f"{kind} {nid}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(max_blocks=8), st.data())
def test_a_kept_pass_equals_a_fresh_one_after_any_edits(graph, data):
    same_as_fresh(graph)
    for _ in range(data.draw(st.integers(1, 8))):
        note(edit(data, graph))
        same_as_fresh(graph)


@pytest.mark.parametrize("name", ["resnet18_cifar", "googlenet_cifar", "se_resnet18_cifar"])
def test_preset_edits_change_exactly_what_a_fresh_pass_says(name):
    """Edits as in the window: a wider stage, a frozen block, a changed input size; each
    kept pass against a fresh one, and the figures really move."""
    graph = presets.get(name).build()
    before = profile(graph, check(graph), optimizer="adam")
    report = check(graph)
    conv = graph.nodes[next(n for n in report.order if report.nodes[n].params)]
    graph.set_learning(conv.id, Learning(False))
    same_as_fresh(graph)
    frozen = profile(graph, check(graph), optimizer="adam")
    assert frozen.totals[1] < before.totals[1]  # fewer gradients
    inp = next(n for n in graph.nodes.values() if n.type_id == "input")
    graph.set_params(inp.id, {"height": 64, "width": 64})
    same_as_fresh(graph)
    assert profile(graph, check(graph), optimizer="adam").totals[3] > 3 * frozen.totals[3]
    graph.set_params(inp.id, {"height": 32, "width": 32})
    graph.set_learning(conv.id, Learning(True))
    same_as_fresh(graph)
    assert profile(graph, check(graph), optimizer="adam") == before


def test_clear_cache_drops_what_every_graph_kept():
    graph = presets.get("lenet5").build()
    check(graph)
    kept = kept_on(graph, "shapes")["pass"]
    check(graph)
    assert kept_on(graph, "shapes")["pass"] is kept
    clear_cache()
    check(graph)
    assert kept_on(graph, "shapes")["pass"] is not kept


def test_an_edit_recomputes_only_what_it_changed(monkeypatch):
    """The point of keeping: one parameter's edit infers that node and its direct
    successors (whose input object changed), not the whole graph."""
    graph = drawn_resnet(18)
    check(graph)
    calls = []
    import app.core.shapes as shapes

    real = shapes._infer

    def counting(block, params, in_shapes):
        calls.append(block.type_id)
        return real(block, params, in_shapes)

    monkeypatch.setattr(shapes, "_infer", counting)
    conv = next(n for n in graph.nodes.values() if n.type_id == "conv2d")
    graph.set_params(conv.id, {"bias": not conv.params["bias"]})
    report = check(graph)
    assert report.ok
    assert 1 <= len(calls) <= 1 + len(graph.successors(conv.id))


def test_deleted_nodes_are_forgotten():
    """A long session of adding and deleting blocks does not grow what the graph keeps."""
    graph = presets.get("lenet5").build()
    out = next(n for n in graph.nodes.values() if n.type_id == "output")
    last = graph.inputs_of(out.id)[0]
    for _ in range(200):
        graph.disconnect(next(e for e in graph.edges() if e.dst == out.id))
        relu = graph.add_node("relu")
        graph.connect(last, relu.id)
        graph.connect(relu.id, out.id)
        profile(graph, check(graph))
        graph.remove_node(relu.id)
        graph.connect(last, out.id)
    report = check(graph)
    assert report.ok
    profile(graph, report)
    assert len(kept_on(graph, "shapes")["pass"].nodes) <= len(graph)
    (recipes,) = kept_on(graph, "cost").values()
    assert len(recipes) <= 2 * len(graph) + 64
