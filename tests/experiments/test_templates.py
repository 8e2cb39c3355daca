"""Each course experiment builds its variants from the open network, on copies."""

from __future__ import annotations

import pytest

import presets
from app.core.experiments.space import apply_point
from app.core.experiments.templates import TEMPLATES, template
from app.core.shapes import check
from app.core.training.config import TrainConfig


def _variants(name: str, preset: str):
    project = presets.get(preset).project()
    t = template(name)
    dims = t.spec().dimensions(project)
    config = TrainConfig.from_dict(project.training)
    return project, {v: apply_point(project, config, {"variant": v}, dims) for v in t.variants}


def _types(graph):
    return [n.type_id for n in graph.nodes.values()]


def test_batch_norm_adds_one_after_each_convolution_and_removes_them_all():
    project, out = _variants("batch_norm", "lenet5")
    with_bn = out["bn"][0].graph
    assert _types(with_bn).count("batchnorm2d") == 2
    for nid in ("conv2d_1", "conv2d_2"):
        (edge,) = with_bn.out_edges(nid)
        assert with_bn.node(edge.dst).type_id == "batchnorm2d"
    assert check(with_bn).ok
    assert out["no_bn"][0].graph == project.graph  # LeNet has none to remove
    vgg_bn = presets.get("vgg11_bn").project()
    dims = template("batch_norm").spec().dimensions(vgg_bn)
    plain, _ = apply_point(vgg_bn, TrainConfig(), {"variant": "no_bn"}, dims)
    assert "batchnorm2d" not in _types(plain.graph) and check(plain.graph).ok
    assert "batchnorm2d" in _types(vgg_bn.graph)  # the original keeps them


def test_dropout_and_width():
    project, out = _variants("dropout", "lenet5")
    assert _types(out["dropout"][0].graph).count("dropout") == 3  # before each linear layer
    assert check(out["dropout"][0].graph).ok
    _, alex = _variants("dropout", "alexnet_cifar")
    assert "dropout" not in _types(alex["no_dropout"][0].graph)
    assert check(alex["no_dropout"][0].graph).ok
    project, widths = _variants("width", "lenet5")
    wide = widths["x2"][0].graph
    assert wide.node("conv2d_1").params["out_channels"] == 12
    assert wide.node("linear_2").params["out_features"] == 168
    assert wide.node("linear_3").params["out_features"] == 10  # the classifier keeps its classes
    assert widths["x0.25"][0].graph.node("conv2d_2").params["out_channels"] == 4
    assert widths["x1"][0].graph == project.graph
    assert all(check(g.graph).ok for g, _ in widths.values())


@pytest.mark.parametrize(
    ("name", "variant", "settings"),
    [
        ("augmentation", "crop_flip", {"crop_padding": 4, "hflip": True}),
        ("optimizer", "adam", {"optimizer": "adam", "lr": 1e-3}),
        ("optimizer", "adamw", {"optimizer": "adamw", "weight_decay": 0.05}),
        ("schedule", "cosine", {"schedule": "cosine"}),
        ("schedule", "warm_restarts", {"schedule": "cosine_restarts", "restart_period": 3}),
    ],
)
def test_settings_templates(name, variant, settings):
    project = presets.get("lenet5").project()
    dims = template(name).spec().dimensions(project)
    config = TrainConfig.from_dict({**project.training, "epochs": 10})
    out_project, out = apply_point(project, config, {"variant": variant}, dims)
    for key, value in settings.items():
        assert getattr(out, key) == value
        assert out_project.training[key] == value
    assert out_project.graph == project.graph


def test_every_template_says_what_it_tests_and_when_it_does_not_apply():
    for t in TEMPLATES.values():
        assert t.claim and t.title and len(t.variants) >= 2
    mlp = presets.get("mlp").project()
    assert "has none" in template("batch_norm").problem(mlp.graph)
    assert template("optimizer").problem(mlp.graph) is None
