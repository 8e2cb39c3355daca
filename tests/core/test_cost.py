"""Pre-flight memory (issue 21): the predicted bytes saved for backward equal what autograd
really saves, for every preset at batch 8; weights, gradients and optimizer state equal the
real tensors after one step, for every optimizer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import presets
from app.core.compiler import compile_graph
from app.core.cost import training_cost
from app.core.graph import Learning
from app.core.shapes import check
from app.core.training.config import TrainConfig
from app.core.training.memory import saved_for_backward, step_state
from app.core.training.optim import build_optimizer

BATCH = 8
#: measured on the CPU too (seconds each); every preset is measured on the meta device, which
#: runs autograd's real saving with no memory and no compute
ON_CPU = (
    "lenet5", "mlp", "alexnet_cifar", "vgg_cifar", "nin_cifar", "squeezenet_cifar",
    "resnet18_cifar", "preact_resnet18_cifar", "se_resnet18_cifar", "googlenet_cifar",
)  # fmt: skip


def _measured(name: str, device: str) -> tuple[int, int]:
    project = presets.get(name).project()
    report = check(project.graph)
    predicted = training_cost(project.graph, report, BATCH)
    with torch.device(device):  # on meta: no weights initialised, which took most of the time
        model = compile_graph(project.graph, report).to(device).train()
    shape = report.nodes[report.input_id].shape
    x = torch.randn(BATCH, *shape, device=device)
    y = torch.randint(0, 2, (BATCH,), device=device)
    return predicted.saved, saved_for_backward(model, x, y)


@pytest.mark.parametrize("name", presets.names())
def test_saved_for_backward_matches_autograd_on_the_meta_device(name):
    predicted, real = _measured(name, "meta")
    assert abs(predicted - real) <= 0.10 * real, (predicted, real)
    assert predicted == real  # today's rules are exact for every preset


@pytest.mark.parametrize("name", ON_CPU)
def test_saved_for_backward_matches_autograd_on_the_cpu(name):
    predicted, real = _measured(name, "cpu")
    assert abs(predicted - real) <= 0.10 * real, (predicted, real)


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "sgd", "momentum": 0.0},
        {"optimizer": "adam"},
        {"optimizer": "adamw", "amsgrad": True},
        {"optimizer": "rmsprop", "momentum": 0.9},
        {"optimizer": "rmsprop", "momentum": 0.0},
        {"optimizer": "adagrad"},
    ],
    ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()),
)
@pytest.mark.parametrize("name", ["lenet5", "resnet18_cifar", "squeezenet_cifar"])
def test_weights_gradients_and_optimizer_state_after_one_step_are_exact(name, settings):
    project = presets.get(name).project()
    report = check(project.graph)
    config = TrainConfig.from_dict(settings)
    cost = training_cost(
        project.graph, report, 4, optimizer=config.optimizer, momentum=config.momentum,
        amsgrad=config.amsgrad,
    )  # fmt: skip
    torch.manual_seed(0)
    model = compile_graph(project.graph, report).train()
    optimizer = build_optimizer(model, config)
    x = torch.randn(4, *report.nodes[report.input_id].shape)
    F.cross_entropy(model(x), torch.randint(0, 2, (4,))).backward()
    optimizer.step()
    real = step_state(model, optimizer)
    assert (cost.weights, cost.gradients, cost.optimizer_state) == (
        real["weights"], real["gradients"], real["optimizer"],
    )  # fmt: skip


def test_frozen_layers_keep_no_gradients_no_state_and_save_nothing_before_them():
    project = presets.get("lenet5").project()
    graph = project.graph
    for nid in ("conv2d_1", "conv2d_2"):
        graph.set_learning(nid, Learning(False))
    report = check(graph)
    cost = training_cost(graph, report, BATCH, optimizer="adam")
    full = training_cost(presets.get("lenet5").build(), report, BATCH, optimizer="adam")
    frozen = sum(report.nodes[n].params for n in ("conv2d_1", "conv2d_2"))
    assert cost.weights == full.weights
    assert full.gradients - cost.gradients == 4 * frozen
    assert cost.nodes["conv2d_1"].saved == cost.nodes["tanh_1"].saved == 0
    assert cost.saved < full.saved
    model = compile_graph(graph, report).to("meta").train()
    for name, module in model.named_modules():
        if name in ("conv2d_1", "conv2d_2"):
            module.requires_grad_(False)
    x = torch.randn(BATCH, 1, 28, 28, device="meta")
    assert cost.saved == saved_for_backward(
        model, x, torch.zeros(BATCH, dtype=torch.long, device="meta")
    )


def test_costs_grow_with_the_batch_and_fixed_parts_do_not():
    graph = presets.get("resnet18_cifar").build()
    report = check(graph)
    small, large = training_cost(graph, report, 8), training_cost(graph, report, 32)
    assert small.fixed == large.fixed
    assert large.saved == pytest.approx(4 * small.saved, rel=0.01)
    assert large.peak > small.peak
    graph.connect("input_1", graph.add_node("conv2d", {"kernel_h": 99}).id)
    assert training_cost(graph, check(graph), 8) is None  # no figures while shapes are wrong


def test_the_largest_batch_is_the_one_whose_peak_fits():
    from app.core.cost import profile

    graph = presets.get("resnet18_cifar").build()
    p = profile(graph, check(graph), optimizer="adam")
    for batch in (1, 7, 128, 1000):
        peak = p.at(batch).peak
        assert p.largest_batch(peak) == batch
        assert p.largest_batch(peak - 1) == batch - 1
    assert p.largest_batch(p.at(1).fixed) == 0  # the weights alone fill it
    assert p.at(64).peak == training_cost(graph, check(graph), 64, optimizer="adam").peak


def test_check_prints_the_training_memory_and_the_largest_batch(capsys):
    import json

    from app.cli import main

    assert main(["check", "presets:resnet18_cifar", "--batch-size", "64", "--optimizer",
                 "adam"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "train mem" in out.splitlines()[1]
    assert "training step at batch 64 (adam, float32): weights 42.7 MiB" in out
    assert "largest batch on cpu" in out
    assert main(["check", "presets:lenet5", "--json", "--amp", "bf16", "--batch-size", "8"]) == 0
    facts = json.loads(capsys.readouterr().out)
    graph = presets.get("lenet5").build()
    cost = training_cost(graph, check(graph), 8, amp="bf16")
    assert facts["training"]["peak_bytes"] == cost.peak
    assert facts["training"]["amp"] == "bf16" and facts["training"]["largest_batch"] > 8
    assert sum(n["training_bytes"] for n in facts["nodes"]) == sum(
        c.total for c in cost.nodes.values()
    )
    assert main(["check", "presets:lenet5", "--optimizer", "lion"]) == 2
    assert "optimizer" in capsys.readouterr().err


def test_step_time_by_hand_with_a_flat_calibration():
    from app.core.cost import step_seconds
    from tests.helpers import chain, image

    graph = chain(
        image(3, 8, 8),
        ("conv2d", {"out_channels": 4, "padding": 1, "bias": False}),
        ("relu", {}),
        ("flatten", {}),
        ("linear", {"out_features": 10}),
    )
    report = check(graph)
    flat = {"conv": [[1, 1e9], [10_000, 1e9]], "narrow": [], "linear_flops": 2e9,
            "bandwidth": 1e12, "overhead_s": 0.0}  # fmt: skip
    conv_macs, linear_macs = report.nodes["conv2d_1"].macs, report.nodes["linear_1"].macs
    relu_bytes = 16 * 4 * 8 * 8 * 4
    params = report.total_params
    expected = (
        6 * conv_macs * 16 / 1e9  # forward, and backward for the input and the weights
        + 6 * linear_macs * 16 / 2e9
        + 5 * relu_bytes / 1e12  # a ReLU passes over its output five times
        + 5 * 4 * params / 1e12  # SGD with momentum: weights, gradients, one buffer
    )
    assert step_seconds(graph, report, 16, flat) == pytest.approx(expected)
    slow = {**flat, "overhead_s": 1e-3}
    assert step_seconds(graph, report, 16, slow) == pytest.approx(expected + 5e-3)  # 2+1+2 calls


def test_pooling_takes_its_measured_time_per_output_value():
    """A CPU max-pool runs at about 18 ns a value, 7× what its traffic would take: the
    calibration's rate, when it has one, prices each pooled value."""
    from app.core.cost import step_seconds
    from tests.helpers import chain, image

    graph = chain(image(3, 8, 8), ("maxpool2d", {"kernel_size": 2, "stride": 2}),
                  ("avgpool2d", {"kernel_size": 2, "stride": 2}))  # fmt: skip
    report = check(graph)
    flat = {"conv": [[1, 1e9]], "narrow": [], "linear_flops": 1e9, "bandwidth": 1e15,
            "overhead_s": 0.0}  # fmt: skip
    rated = {**flat, "pool_s_per_out": {"maxpool2d": 2e-8, "avgpool2d": 1e-8}}
    expected = 2e-8 * 16 * 3 * 4 * 4 + 1e-8 * 16 * 3 * 2 * 2
    assert step_seconds(graph, report, 16, rated) == pytest.approx(expected, rel=1e-3)
    assert step_seconds(graph, report, 16, flat) < expected / 100  # an older calibration


def test_check_calibrates_once_and_then_gives_the_time_per_step(tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("app.core.training.calibrate.BUDGET_S", 0.0)  # a quick calibration
    monkeypatch.setattr("app.core.training.calibrate.WARM_S", 0.0)
    assert main(["check", "presets:lenet5"]) == 0
    assert "add --calibrate" in capsys.readouterr().out
    assert main(["check", "presets:lenet5", "--calibrate"]) == 0
    assert "time per step on cpu: ≈" in capsys.readouterr().out
    assert (tmp_path / "NetBuilder" / "calibration.json").exists()
    assert main(["check", "presets:lenet5"]) == 0  # from the cache now
    out = capsys.readouterr().out
    assert "time per step on cpu: ≈" in out and "per epoch of" in out


@pytest.mark.parametrize("name", ON_CPU)
def test_saved_for_backward_under_bf16_autocast_on_the_cpu(name):
    """Autocast keeps low-precision copies: of the images at the first layer, of every
    convolution's weights, of a linear layer's weights when its input needs a gradient."""
    project = presets.get(name).project()
    report = check(project.graph)
    predicted = training_cost(project.graph, report, BATCH, amp="bf16").saved
    model = compile_graph(project.graph, report).train()
    x = torch.randn(BATCH, *report.nodes[report.input_id].shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        real = saved_for_backward(model, x, torch.randint(0, 2, (BATCH,)))
    assert abs(predicted - real) <= 0.10 * real, (predicted, real)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ON_CPU)
def test_predicted_peak_within_15_percent_of_cuda_max_memory_allocated(name):
    project = presets.get(name).project()
    report = check(project.graph)
    device = torch.device("cuda")
    predicted = training_cost(project.graph, report, BATCH, optimizer="sgd", device="cuda").peak
    torch.manual_seed(0)
    model = compile_graph(project.graph, report).to(device).train()
    optimizer = build_optimizer(model, TrainConfig.from_dict({"optimizer": "sgd"}))
    x = torch.randn(BATCH, *report.nodes[report.input_id].shape, device=device)
    y = torch.randint(0, 2, (BATCH,), device=device)
    for _ in range(2):  # the second step has the momentum buffers
        torch.cuda.reset_peak_memory_stats(device)
        optimizer.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    real = torch.cuda.max_memory_allocated(device)
    assert abs(predicted - real) <= 0.15 * real, (predicted, real)


def test_inference_needs_less_than_training_and_more_than_the_weights():
    from app.core.cost import profile

    graph = presets.get("resnet18_cifar").build()
    p = profile(graph, check(graph))
    assert p.at(64).weights < p.inference(64) < p.at(64).peak


def test_a_calibration_keeps_each_figure_s_best_round(monkeypatch):
    """A round slowed by another program is not the device's speed: each throughput is the
    best of the rounds, the call cost the least, and the narrow-conv shares are of the best."""
    from app.core.training import calibrate

    rounds = iter([
        {"conv": [[16, 10.0], [64, 50.0]], "narrow": [[64, 100.0], [8, 20.0]],
         "linear_flops": 300.0, "bandwidth": 20.0, "overhead_s": 9e-6,
         "pool_s_per_out": {"maxpool2d": 2e-8, "avgpool2d": 1e-8}},
        {"conv": [[16, 30.0], [64, 40.0]], "narrow": [[64, 80.0], [8, 40.0]],
         "linear_flops": 200.0, "bandwidth": 30.0, "overhead_s": 7e-6,
         "pool_s_per_out": {"maxpool2d": 3e-8, "avgpool2d": 5e-9}},
    ])  # fmt: skip
    monkeypatch.setattr(calibrate, "_rates", lambda device: next(rounds))
    monkeypatch.setattr(calibrate, "WARM_S", 0.0)
    found = calibrate.measure(torch.device("cpu"), rounds=2)
    assert found["conv"] == [[16, 30.0], [64, 50.0]]
    assert found["narrow"] == [[64, 1.0], [8, 0.4]]
    assert (found["linear_flops"], found["bandwidth"], found["overhead_s"]) == (300.0, 30.0, 7e-6)
    assert found["pool_s_per_out"] == {"maxpool2d": 2e-8, "avgpool2d": 5e-9}
