"""ImageNet presets are exactly torchvision's architectures: parameter counts, GMACs and, with
mapped weights, identical logits."""

from __future__ import annotations

import pytest
import torch

import presets
from app.core.compiler import compile_graph
from app.core.shapes import check
from presets.weights import WeightMappingError, load_mapped, map_state_dict

torchvision = pytest.importorskip("torchvision")

TV_PRESETS = [n for n in presets.names() if presets.get(n).torchvision]

#: DESIGN.md §5 (torchvision, 224×224, no aux heads)
REFERENCE_GMACS = {
    "alexnet": 0.714,
    "vgg11": 7.609,
    "vgg11_bn": 7.609,
    "vgg16": 15.470,
    "vgg16_bn": 15.470,
    "vgg19": 19.632,
    "googlenet": 1.498,
    "resnet18": 1.814,
    "resnet34": 3.664,
    "resnet50": 4.089,
    "resnet101": 7.801,
    "resnet152": 11.514,
    "resnext50_32x4d": 4.230,
    "wide_resnet50_2": 11.398,
    "squeezenet1_0": 0.819,
    "squeezenet1_1": 0.349,
}


def tv_model(name: str, device: str = "cpu") -> torch.nn.Module:
    fn = getattr(torchvision.models, presets.get(name).torchvision)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    with torch.device(device):
        return fn(**kwargs)


def test_every_torchvision_architecture_has_a_preset():
    expected = {
        "alexnet",
        "googlenet",
        "resnext50_32x4d",
        "wide_resnet50_2",
        "squeezenet1_0",
        "squeezenet1_1",
    } | {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    expected |= {f"resnet{d}" for d in (18, 34, 50, 101, 152)}
    assert set(TV_PRESETS) == expected


@pytest.mark.parametrize("name", TV_PRESETS)
def test_parameter_count_equals_torchvision(name):
    report = check(presets.get(name).build())
    reference = sum(p.numel() for p in tv_model(name, "meta").parameters())
    assert report.total_params == reference
    with torch.device("meta"):
        ours = compile_graph(presets.get(name).build(), report)
    assert sum(p.numel() for p in ours.parameters()) == reference
    if name in REFERENCE_GMACS:
        assert report.total_macs / 1e9 == pytest.approx(REFERENCE_GMACS[name], abs=5e-4)


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "resnet50",
        "vgg11_bn",
        "googlenet",
        "squeezenet1_1",
        "resnext50_32x4d",
        "alexnet",
    ],
)
def test_logits_equal_torchvision_with_mapped_weights(name):
    torch.manual_seed(0)
    reference = tv_model(name).eval()
    ours = compile_graph(presets.get(name).build()).eval()
    load_mapped(ours, reference.state_dict())
    x = torch.randn(1 if name.startswith("vgg") else 2, 3, 224, 224)
    with torch.no_grad():
        expected = reference(x)
        actual = ours(x)
    scale = expected.abs().max()
    torch.testing.assert_close(actual / scale, expected / scale)


def test_mapping_refuses_a_different_architecture():
    ours = compile_graph(presets.get("resnet18").build())
    with torch.device("meta"):
        other = torchvision.models.resnet34()
    with pytest.raises(WeightMappingError, match="not the same architecture"):
        map_state_dict(other.state_dict(), ours)
    sd = dict(tv_model("resnet18", "meta").state_dict())
    sd["fc.weight"] = torch.empty(10, 512)
    with pytest.raises(WeightMappingError, match=r"fc.weight \(10, 512\) does not fit linear_1"):
        map_state_dict(sd, ours)


@pytest.mark.parametrize("name", TV_PRESETS)
def test_weight_mapping_pairs_every_tensor(name):
    """Every torchvision tensor finds its place (shape and kind) in the compiled preset."""
    with torch.device("meta"):
        ours = compile_graph(presets.get(name).build())
    reference = tv_model(name, "meta").state_dict()
    mapped = map_state_dict(reference, ours)
    assert mapped.keys() == ours.state_dict().keys()
