"""Fit a graph to a dataset: the Input node takes the images' shape and the classifier the
number of classes, so a CIFAR preset can train on MNIST (or a user's folder) in one step."""

from __future__ import annotations

from app.core.graph import Graph
from app.core.shapes import check


def adapt_to_dataset(graph: Graph, shape: tuple[int, ...], classes: int | None) -> list[str]:
    """Change ``graph`` in place so it takes ``shape`` images and outputs ``classes`` scores
    (None: leave the classifier). Returns a description of each change (empty if it fits)."""
    changes: list[str] = []
    report = check(graph)
    inputs = [n for n in graph.nodes.values() if n.type_id == "input"]
    if inputs and len(shape) == 3:
        node = inputs[0]
        want = {"layout": "image", "channels": shape[0], "height": shape[1], "width": shape[2]}
        diff = {k: v for k, v in want.items() if node.params[k] != v}
        if diff:
            graph.set_params(node.id, diff)
            changes.append(f"{node.id}: input set to {'×'.join(map(str, shape))}")
    if classes is None:
        return changes
    out_id = report.output_id
    node_id = out_id
    while node_id is not None:  # walk back from the output to the layer that sets the width
        node = graph.nodes[node_id]
        block = graph.registry.get(node.type_id)
        if block.width_param:  # the layer that sets the number of class scores
            param = block.width_param
            if node.params[param] != classes:
                graph.set_params(node.id, {param: classes})
                changes.append(f"{node.id}: {param} set to {classes}")
            break
        if not block.keeps_width:
            break
        sources = graph.inputs_of(node_id)
        node_id = sources[0] if len(sources) == 1 else None
    outputs = [n for n in graph.nodes.values() if n.type_id == "output"]
    for node in outputs:
        if node.params["classes"] not in (0, classes):
            graph.set_params(node.id, {"classes": classes})
            changes.append(f"{node.id}: classes set to {classes}")
    return changes
