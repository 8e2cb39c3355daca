"""ImageNet presets are exactly torchvision's architectures: parameter counts, GMACs, module
names and, with torchvision's weights loaded by name, identical logits."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import presets
from app.core.compiler import compile_graph
from app.core.export.model_code import export_model_code
from app.core.shapes import check

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
    "densenet121": 2.834,
    "densenet161": 7.728,
    "densenet169": 3.360,
    "densenet201": 4.291,
    "mobilenet_v2": 0.301,
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
    expected |= {f"densenet{d}" for d in (121, 161, 169, 201)} | {"mobilenet_v2"}
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


@pytest.mark.parametrize("name", TV_PRESETS)
def test_state_dict_keys_and_shapes_are_torchvision_s(name):
    """The presets name their modules as torchvision does (``features.0``, ``layer1.0.conv1``,
    ``inception3a.branch2.1.conv``, ``fc``): the same keys, in the same order, of the same
    shapes, so torchvision's weights load by name."""
    with torch.device("meta"):
        ours = compile_graph(presets.get(name).build()).state_dict()
    reference = tv_model(name, "meta").state_dict()
    assert list(ours) == list(reference)
    assert [v.shape for v in ours.values()] == [v.shape for v in reference.values()]


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
        "densenet121",
        "mobilenet_v2",
    ],
)
def test_logits_equal_torchvision_with_its_weights_loaded_strictly(name, tmp_path):
    torch.manual_seed(0)
    reference = tv_model(name).eval()
    graph = presets.get(name).build()
    with torch.device("meta"):  # ours and the export take torchvision's weights: no init
        ours = compile_graph(graph).eval()
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    path = tmp_path / "exported.py"
    path.write_text(export_model_code(graph, "Net"))
    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.device("meta"):
        exported = module.Net().eval()
    exported.load_state_dict(reference.state_dict(), strict=True, assign=True)
    x = torch.randn(1 if name.startswith("vgg") else 2, 3, 224, 224)
    with torch.no_grad():
        expected = reference(x)
        scale = expected.abs().max()
        torch.testing.assert_close(ours(x) / scale, expected / scale)
        torch.testing.assert_close(exported(x) / scale, expected / scale)


def test_a_different_architecture_is_refused_by_name():
    ours = compile_graph(presets.get("resnet18").build())
    with torch.device("meta"):
        other = torchvision.models.resnet34().state_dict()
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: \"layer1\.2\."):
        ours.load_state_dict(other, strict=True)
    sd = dict(tv_model("resnet18").state_dict())
    sd["fc.weight"] = torch.empty(10, 512)
    with pytest.raises(RuntimeError, match=r"size mismatch for fc\.weight"):
        ours.load_state_dict(sd, strict=True)
