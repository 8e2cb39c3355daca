"""Frozen nodes and learning-rate multipliers in a real run: frozen weights and BatchNorm
statistics stay bitwise as they were while the rest trains, the optimizer holds no frozen
parameter, and each group's rate is the schedule's times its multiplier."""

from __future__ import annotations

import pytest
import torch

from app.core.graph import Learning
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import RunFinished
from tests.helpers import SMALL_TRAINING, chain, image


def bn_net():
    return chain(
        image(1, 28, 28),
        ("conv2d", {"out_channels": 8}),
        ("batchnorm2d", {}),
        ("relu", {}),
        ("conv2d", {"out_channels": 8}),
        ("batchnorm2d", {}),
        ("relu", {}),
        ("flatten", {}),
        ("linear", {"out_features": 10}),
    )


def run(graph, tmp_path, **options):
    config = TrainConfig.from_dict({**SMALL_TRAINING, **options})
    trainer = Trainer(graph, config, runs_root=tmp_path)
    trainer.prepare()
    start = {k: v.clone() for k, v in trainer.p.model.state_dict().items()}
    events = list(trainer.run())
    assert isinstance(events[-1], RunFinished), events[-1]
    return trainer, start


def test_frozen_weights_and_batchnorm_statistics_stay_bitwise_while_the_rest_trains(tmp_path):
    g = bn_net()
    for nid in ("conv2d_1", "batchnorm2d_1"):
        g.set_learning(nid, Learning(trainable=False))
    trainer, start = run(g, tmp_path)
    end = trainer.p.model.state_dict()
    frozen = [k for k in end if k.startswith(("conv2d_1.", "batchnorm2d_1."))]
    assert {k.split(".", 1)[1] for k in frozen} >= {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    for k in frozen:
        assert torch.equal(end[k], start[k]), k
    for k in ("conv2d_2.weight", "batchnorm2d_2.running_mean", "linear_1.weight"):
        assert not torch.equal(end[k], start[k]), k  # the rest trained
    held = {id(p) for group in trainer.p.opt.param_groups for p in group["params"]}
    model = trainer.p.model
    for name in ("conv2d_1", "batchnorm2d_1"):
        for p in model.get_submodule(name).parameters():
            assert id(p) not in held and not p.requires_grad
    assert len(held) == sum(1 for p in model.parameters() if p.requires_grad) == 6
    assert trainer.p.freezing.frozen_params == 8 * 9 + 8 + 8 + 8


def test_a_frozen_composite_keeps_its_inner_batchnorm_in_evaluation_mode(tmp_path):
    g = chain(
        image(1, 28, 28),
        ("conv2d", {"out_channels": 8, "padding": 1}),
        ("residual", {"channels": 8}),
        ("global_avgpool", {}),
        ("flatten", {}),
        ("linear", {"out_features": 10}),
    )
    g.set_learning("residual_1", Learning(trainable=False))
    trainer, start = run(g, tmp_path, epochs=1)
    end = trainer.p.model.state_dict()
    inner = [k for k in end if k.startswith("residual_1.")]
    assert any("running_var" in k for k in inner)
    assert all(torch.equal(end[k], start[k]) for k in inner)
    assert not torch.equal(end["conv2d_1.weight"], start["conv2d_1.weight"])


def test_each_group_runs_at_the_scheduled_rate_times_its_multiplier(tmp_path):
    g = bn_net()
    g.set_learning("conv2d_1", Learning(lr_mult=0.1))
    g.set_learning("conv2d_2", Learning(lr_mult=0.1))
    trainer, _ = run(g, tmp_path, epochs=1, schedule="cosine", lr=0.2)
    groups = trainer.p.opt.param_groups
    assert [gr["lr_mult"] for gr in groups] == [0.1, 1.0]
    assert len(groups[0]["params"]) == 4  # both convs' weight and bias
    assert groups[0]["lr"] == pytest.approx(0.1 * groups[1]["lr"])
    assert trainer.history[-1].lr == pytest.approx(groups[1]["lr"])  # the schedule's own rate


def test_a_network_with_every_layer_frozen_is_refused_with_a_reason(tmp_path):
    g = bn_net()
    for nid in g.nodes:
        g.set_learning(nid, Learning(trainable=False))
    config = TrainConfig.from_dict(SMALL_TRAINING)
    events = list(Trainer(g, config, runs_root=tmp_path).run())
    assert "every layer is frozen" in events[-1].message
