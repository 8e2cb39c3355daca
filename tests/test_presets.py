"""Every preset: checks clean, compiles, runs forward+backward, round-trips, agrees with meta."""

from __future__ import annotations

import pytest
import torch

import presets
from app.core.compiler import compile_graph, verify
from app.core.serialization import Project, loads, to_json
from app.core.shapes import check
from presets.drawn import drawn_resnet


@pytest.mark.parametrize("name", presets.names())
def test_preset_is_sound(name):
    p = presets.get(name)
    assert p.title and p.description and p.input
    g = p.build()
    report = check(g)
    assert report.ok, report.errors
    assert verify(g, report) == []
    # the heaviest (VGG, ResNet-101/152, Wide ResNet, DenseNet-161: 5-20 GMACs) run on the meta
    # device: shapes and gradients without the arithmetic; each family computes for real in
    # test_presets_torchvision (logits equal torchvision's) and in the training tests
    device = "meta" if report.total_macs > 5e9 else "cpu"
    with torch.device(device):
        model = compile_graph(g, report).train()
    x = torch.randn(2, *report.nodes[report.input_id].shape, device=device)
    y = model(x)
    assert tuple(y.shape[1:]) == report.output_shape
    y.logsumexp(1).mean().backward()
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    text = to_json(Project(g, name))
    assert loads(text).graph == g
    assert to_json(loads(text)) == text


def test_preset_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        presets.preset("lenet5", "x", "x", "x")(lambda: None)
    with pytest.raises(presets.UnknownPresetError, match="no preset named 'nope'"):
        presets.get("nope")


@pytest.mark.parametrize(
    ("depth", "params", "gmacs"),
    [
        (18, 11_689_512, 1.814),
        (34, 21_797_672, 3.664),
        (50, 25_557_032, 4.089),
        (152, 60_192_808, 11.514),
    ],
)
def test_drawn_resnets_match_torchvision_reference_numbers(depth, params, gmacs):
    """Primitive blocks reproduce DESIGN.md's torchvision table (parameters and GMACs)."""
    report = check(drawn_resnet(depth))
    assert report.ok, report.errors
    assert report.total_params == params
    assert round(report.total_macs / 1e9, 3) == pytest.approx(gmacs, abs=0.002)


def test_every_preset_starts_with_an_epoch_a_cpu_finishes_in_about_a_minute():
    """Issue 14: `train presets:ID --epochs 1` for VGG-19 took 100 images (7e12 MACs, about
    two minutes on 2 cores); the suggested settings size an ImageNet network's smoke run to
    the budget instead, and never below one batch."""
    from app.core.training.config import TrainConfig
    from app.core.training.fit import EPOCH_BUDGET_MACS, epoch_macs_per_image

    for name in presets.names():
        project = presets.get(name).project()
        TrainConfig.from_dict(project.training)  # valid (a smaller set fell below a minimum)
        macs = check(project.graph).total_macs
        train = project.training.get("train_size", 10_000)
        if macs < 2e9:
            continue  # LeNet, the MLP, the CIFAR networks: measured in docs/benchmarks.md
        work = train * epoch_macs_per_image(macs)
        assert work <= EPOCH_BUDGET_MACS or train == 16, (name, train, work)
        assert train >= project.training.get("batch_size", 64), name
