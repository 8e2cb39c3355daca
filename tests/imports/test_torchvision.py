"""torchvision's classification models import onto catalogue blocks with no opaque node, check
with no errors, keep every module path and weight, and compute the same logits."""

from __future__ import annotations

import pytest
import torch
import torchvision

from app.core.compiler import compile_graph
from app.core.imports.errors import ImportFailure
from app.core.imports.fx_map import import_model
from app.core.shapes import check

#: the families the course teaches, every size torchvision has
NATIVE = [
    "alexnet",
    *[f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn")],
    *[f"resnet{depth}" for depth in (18, 34, 50, 101, 152)],
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "googlenet",
    "squeezenet1_0",
    "squeezenet1_1",
    *[f"densenet{depth}" for depth in (121, 161, 169, 201)],
    "mobilenet_v2",
]
#: beyond the course: these import fully too
ALSO_NATIVE = ["mobilenet_v3_small", "mobilenet_v3_large", "regnet_y_400mf"]
#: a small input (every model ends in adaptive pooling) keeps the forward passes cheap
SHAPE = (3, 64, 64)


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    # GoogLeNet without its training-only auxiliary classifiers (the issue's "no aux")
    kw = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    return torchvision.models.get_model(name, weights=None, **kw)


#: torchvision's composite modules and the blocks they import as, per model
COMPOSITES = {
    "resnet50": {"residual": 16},
    "resnext50_32x4d": {"residual": 16},
    "wide_resnet50_2": {"residual": 16},
    "googlenet": {"inception": 9, "conv_bn_relu": 3},
    "squeezenet1_0": {"fire": 8},
    "regnet_y_400mf": {"squeeze_excite": 14},
    "mobilenet_v2": {"inverted_residual": 17},
}


@pytest.mark.parametrize("name", NATIVE + ALSO_NATIVE)
def test_imports_natively_with_equal_logits(name):
    model = build(name)
    result = import_model(model, SHAPE)
    graph = result.graph
    report = check(graph)
    assert report.ok, [p.message for p in report.errors]
    assert report.total_params == sum(p.numel() for p in model.parameters())
    assert result.native == len(graph) - 2  # every node but Input and Output is a block
    assert result.left_out == []
    # the compiled graph's keys are the source's, and its weights load by name
    with torch.device("meta"):
        compiled = compile_graph(graph, report)
    assert set(compiled.state_dict()) == set(model.state_dict())
    assert set(result.state) == set(model.state_dict())
    assert result.max_abs_diff <= 1e-5
    # module paths are the source's, grouped as it groups them
    paths = {n.path for n in graph.nodes.values() if n.path}
    assert paths <= {name for name, _ in model.named_modules()}
    # torchvision's composite modules become one block each
    for type_id, count in COMPOSITES.get(name, {}).items():
        assert sum(1 for n in graph.nodes.values() if n.type_id == type_id) == count
    by_path = {n.path: n.params for n in graph.nodes.values()}
    if name == "resnext50_32x4d":  # groups and width per group are kept
        block = by_path["layer3.0"]
        assert (block["groups"], block["base_width"], block["stride"]) == (32, 4, 2)
    if name == "wide_resnet50_2":
        assert by_path["layer1.0"]["base_width"] == 128


def test_resnet_keeps_torchvision_names_and_stages():
    result = import_model(build("resnet18"), SHAPE)
    graph = result.graph
    by_path = {n.path: n for n in graph.nodes.values() if n.path}
    # torchvision's BasicBlock computes exactly what the ResidualBlock block computes
    block = by_path["layer2.0"]
    assert block.type_id == "residual"
    assert {k: block.params[k] for k in ("kind", "channels", "stride", "version")} == {
        "kind": "basic",
        "channels": 128,
        "stride": 2,
        "version": "v1.5",
    }
    assert sorted(p for p in by_path if p.startswith("layer")) == [
        f"layer{s}.{i}" for s in range(1, 5) for i in range(2)
    ]
    # the stem's modules are top-level: their ids are their names, as when drawn
    assert [graph.nodes[n].type_id for n in ("conv1", "bn1", "relu", "maxpool", "fc")] == [
        "conv2d",
        "batchnorm2d",
        "relu",
        "maxpool2d",
        "linear",
    ]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("shufflenet_v2_x1_0", "a reshape to"),
        ("convnext_tiny", "layer_scale: a parameter or buffer used directly"),
        ("vit_b_16", "class_token: a parameter or buffer used directly"),
    ],
)
def test_models_with_unsupported_parts_fail_whole_with_the_parts_listed(name, why):
    """No block computes a part of these, and no module around it can be kept whole as an
    opaque node (ShuffleNet's InvertedResidual and ConvNeXt's CNBlock do not keep their
    constructor arguments; a ViT's class token is the model's own parameter): refused whole,
    naming each part; nothing is half-imported. (EfficientNet imports with opaque nodes:
    tests/imports/test_opaque.py.)"""
    with pytest.raises(ImportFailure, match="map onto no NetBuilder block") as info:
        import_model(build(name), (3, 224, 224) if name == "vit_b_16" else SHAPE)
    assert why in str(info.value)
