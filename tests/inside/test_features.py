"""Feature maps (issue 19): what the hook reads at a node is what a network cut off after
that node outputs, for every kind of block in these presets; dead units are counted right;
``inspect features`` writes the figure and the statistics."""

from __future__ import annotations

import pytest
import torch

import presets
from app.core.compiler import compile_graph, node_modules
from app.core.graph import Graph
from app.core.training.inside.features import FeatureError, capture, feature_maps


def mixed() -> Graph:
    """Small blocks of the kinds the presets above do not have: Inception, SE, inverted
    residual, dense layer, NiN, a concat of two branches and an add."""
    g = Graph()
    x = g.add_node("input", {"channels": 8, "height": 12, "width": 12}).id

    def add(type_id, params, *sources):
        node = g.add_node(type_id, params).id
        for port, src in enumerate(sources):
            g.connect(src, node, port)
        return node

    a = add("inception", {"ch1x1": 4, "ch3x3red": 4, "ch3x3": 4, "ch5x5red": 2, "ch5x5": 4,
                          "pool_proj": 4}, x)  # fmt: skip
    b = add("squeeze_excite", {"reduction": 4}, a)
    c = add("inverted_residual", {"out_channels": 16, "expand_ratio": 2}, b)
    d = add("dense_layer", {"growth_rate": 4, "bn_size": 2}, c)
    e = add("nin_block", {"channels": 20}, d)
    f = add("conv2d", {"out_channels": 20, "padding": 1}, d)
    cat = add("concat", {}, e, f)
    s = add("add", {}, add("dropout", {"p": 0.2}, cat), add("batchnorm2d", {}, cat))
    add("linear", {"out_features": 3}, add("flatten", {}, add("global_avgpool", {}, s)))
    return g


PRESETS = ("lenet5", "resnet18_cifar", "squeezenet_cifar", "mixed")


def cut_after(graph: Graph, node_id: str) -> Graph:
    """The network up to ``node_id``, which becomes its output."""
    keep = graph.upstream(node_id) | {node_id}
    g = graph.copy()
    for nid in [n for n in g.nodes if n not in keep]:
        g.remove_node(nid)
    return g


@pytest.mark.parametrize("name", PRESETS)
def test_the_maps_of_every_block_kind_are_what_the_network_computes_there(name):
    graph = mixed() if name == "mixed" else presets.get(name).build()
    torch.manual_seed(0)
    model = compile_graph(graph).eval()
    state = model.state_dict()
    shape = next(n for n in graph.nodes.values() if n.type_id == "input").params
    x = torch.randn(3, shape["channels"], shape["height"], shape["width"])
    modules = node_modules(model)
    first_of_kind: dict[str, str] = {}
    for nid in graph.topological_order():
        if nid in modules:
            first_of_kind.setdefault(graph.node(nid).type_id, nid)
    assert len(first_of_kind) >= 3
    for kind, nid in first_of_kind.items():
        cut = compile_graph(cut_after(graph, nid)).eval()
        cut.load_state_dict({k: v for k, v in state.items() if k in cut.state_dict()})
        with torch.no_grad():
            expected = cut(x)
        got = capture(model, graph, nid, x)
        torch.testing.assert_close(got, expected, msg=f"{name}: {kind} {nid}")


def test_dead_units_are_the_relu_channels_that_never_fire_on_the_batch():
    graph = presets.get("lenet5").build()
    graph.add_node("relu", node_id="probe")
    # a ReLU after conv2d_2 (LeNet's own activations are tanh): rewire conv2d_2 → probe → tanh_2
    edge = next(e for e in graph.out_edges("conv2d_2"))
    graph.disconnect(edge)
    graph.connect("conv2d_2", "probe")
    graph.connect("probe", edge.dst, edge.port)
    torch.manual_seed(1)
    model = compile_graph(graph).eval()
    with torch.no_grad():
        model.get_submodule("conv2d_2").bias[:5] = -100.0  # 5 channels that cannot fire
    x = torch.randn(8, 1, 28, 28)
    fm = feature_maps(model, graph, "probe", x, index=2)
    out = capture(model, graph, "probe", x)
    assert fm.dead == int(((out > 0).flatten(2).any(-1).any(0) == 0).sum()) >= 5
    assert fm.maps.shape == (16, 10, 10) and torch.equal(fm.maps, out[2])
    assert fm.stats[0].maximum == pytest.approx(0.0) and fm.stats[0].active == 0.0
    assert f"{fm.dead} of 16 channels dead on 8 images" in fm.summary
    conv = feature_maps(model, graph, "conv2d_1", x)
    assert conv.dead is None  # not a ReLU's output
    with pytest.raises(FeatureError, match="no node 'conv9'"):
        feature_maps(model, graph, "conv9", x)
    with pytest.raises(FeatureError, match="input_1 \\(input\\) has no layer of its own"):
        feature_maps(model, graph, "input_1", x)


def test_inspect_features_writes_the_figure_and_the_statistics(tmp_path, capsys):
    from PIL import Image

    from app.cli import main
    from app.core.training.config import TrainConfig
    from app.core.training.engine import Trainer
    from app.core.training.events import RunFinished
    from tests.helpers import SMALL_TRAINING

    trainer = Trainer(
        presets.get("lenet5").build(),
        TrainConfig.from_dict({**SMALL_TRAINING, "epochs": 1}),
        runs_root=tmp_path / "runs",
    )
    end = list(trainer.run())[-1]
    assert isinstance(end, RunFinished)
    png, csv = tmp_path / "maps.png", tmp_path / "maps.csv"
    args = ["inspect", "features", end.run_dir, "--node", "conv2d_2", "--index", "3"]
    assert main([*args, "-o", str(png), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(best checkpoint): validation image 3 (" + out[0].split("(")[-1])
    assert out[1] == "conv2d_2 (conv2d): 16×10×10"
    assert len(csv.read_text().splitlines()) == 17
    with Image.open(png) as img:
        assert img.size[0] > 600
    assert main(["inspect", "features", end.run_dir, "--node", "conv2d_2", "--index", "99"]) == 1
    assert "--index 99: there are 64 validation images" in capsys.readouterr().err
