"""Fit a graph to a dataset: the Input node takes the images' shape and the classifier the
number of classes, so a CIFAR preset can train on MNIST (or a user's folder) in one step."""

from __future__ import annotations

from app.core.graph import Graph
from app.core.shapes import ShapeReport, check


def classifier_node(graph: Graph, output_id: str | None) -> str | None:
    """The layer that sets the number of class scores (the last linear or 1×1 conv before
    the output, through layers that keep the width), if there is one."""
    node_id = output_id
    while node_id is not None:  # walk back from the output to the layer that sets the width
        block = graph.block(node_id)
        if block.width_param:
            return node_id
        if not block.keeps_width:
            return None
        sources = graph.inputs_of(node_id)
        node_id = sources[0] if len(sources) == 1 else None
    return None


def adapt_plan(
    graph: Graph, shape: tuple[int, ...], classes: int | None, report: ShapeReport | None = None
) -> list[tuple[str, dict, str]]:
    """What fitting ``graph`` to ``shape`` images and ``classes`` scores (None: leave the
    classifier) changes, without changing it: (node, params, description) per change, empty
    when it fits. ``report``: the graph's shape report, when the caller has it."""
    plan: list[tuple[str, dict, str]] = []
    report = report or check(graph)
    inputs = [n for n in graph.nodes.values() if n.type_id == "input"]
    if inputs and len(shape) == 3:
        node = inputs[0]
        want = {"layout": "image", "channels": shape[0], "height": shape[1], "width": shape[2]}
        diff = {k: v for k, v in want.items() if node.params[k] != v}
        if diff:
            plan.append((node.id, diff, f"{node.id}: input set to {'×'.join(map(str, shape))}"))
    if classes is None:
        return plan
    head = classifier_node(graph, report.output_id)
    if head is not None:
        param = graph.block(head).width_param
        if graph.node(head).params[param] != classes:
            text = f"{graph.node(head).path or head}: {param} set to {classes}"
            plan.append((head, {param: classes}, text))
    for node in graph.nodes.values():
        if node.type_id == "output" and node.params["classes"] not in (0, classes):
            plan.append((node.id, {"classes": classes}, f"{node.id}: classes set to {classes}"))
    return plan


def adapt_to_dataset(graph: Graph, shape: tuple[int, ...], classes: int | None) -> list[str]:
    """Change ``graph`` in place so it takes ``shape`` images and outputs ``classes`` scores
    (None: leave the classifier). Returns a description of each change (empty if it fits)."""
    plan = adapt_plan(graph, shape, classes)
    for node_id, params, _ in plan:
        graph.set_params(node_id, params)
    return [text for _, _, text in plan]
