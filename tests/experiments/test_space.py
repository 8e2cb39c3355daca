"""Parsing what a sweep varies, and applying a point to a copy."""

from __future__ import annotations

import random
import re

import pytest

import presets
from app.core.experiments.space import SweepError, apply_point, bind, grid_points, parse_dimension
from app.core.training.config import TrainConfig


@pytest.fixture
def lenet():
    return presets.get("lenet5").project()


def test_settings_and_block_parameters(lenet):
    lr = parse_dimension("lr=log:1e-3..1e-1", lenet)
    assert (lr.target, lr.low, lr.high, lr.log, lr.integer, lr.count) == (
        "setting", 1e-3, 1e-1, True, False, 0,
    )  # fmt: skip
    p = parse_dimension("conv2d_1.out_channels=4, 8,16", lenet)
    assert (p.target, p.values) == ("param", (4, 8, 16))
    flip = parse_dimension("hflip=true,false", lenet)
    assert flip.values == (True, False)
    opt = parse_dimension("optimizer=sgd,adam", lenet)
    assert opt.values == ("sgd", "adam")


def test_grids_of_ranges(lenet):
    assert parse_dimension("lr=log:1e-3..1e-1:3", lenet).grid() == (0.001, 0.01, 0.1)
    assert parse_dimension("momentum=0..0.9:4", lenet).grid() == (0.0, 0.3, 0.6, 0.9)
    assert parse_dimension("conv2d_1.out_channels=16..64:3", lenet).grid() == (16, 40, 64)
    with pytest.raises(SweepError, match=re.escape("lr=log:0.001..0.1:4")):
        parse_dimension("lr=log:1e-3..1e-1", lenet).grid()


def test_random_values_stay_in_range(lenet):
    rng = random.Random(3)
    lr = parse_dimension("lr=log:1e-4..1e-1", lenet)
    width = parse_dimension("conv2d_1.out_channels=int:4..12", lenet)
    draws = [lr.sample(rng) for _ in range(200)]
    assert all(1e-4 <= v <= 1e-1 for v in draws)
    assert sum(v < 1e-2 for v in draws) > 100  # log-uniform: two of three decades below 1e-2
    assert {width.sample(rng) for _ in range(200)} == set(range(4, 13))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr", "expected NAME=VALUES"),
        ("lrr=0.1", "not a training setting"),
        ("conv9.out_channels=4", "no block 'conv9'"),
        ("conv2d_1.width=4", "has no parameter 'width'"),
        ("conv2d_1.out_channels=0,4", "out_channels"),
        ("dropout_1.p=0.5", "no block 'dropout_1'"),
        ("lr=log:0..1", "above 0"),
        ("lr=0.5..0.1", "below its high end"),
        ("lr=1,1", "listed twice"),
        ("batch_size=int:8.5..64", "whole ends"),
        ("optimizer=sgd,lion", "expected one of"),
        ("lr=log:1e-3..1e-1:x", "not a whole number"),
        ("variant=a,b", "only an experiment template"),
    ],
)
def test_bad_dimensions_say_why(lenet, text, message):
    with pytest.raises(SweepError, match=message):
        parse_dimension(text, lenet)


def test_a_name_twice_is_an_error(lenet):
    with pytest.raises(SweepError, match="more than once"):
        bind(["lr=0.1,0.2", "lr=0.3"], lenet)


def test_apply_point_changes_a_copy(lenet):
    dims = bind(["lr=0.01,0.1", "conv2d_1.out_channels=4,8"], lenet)
    points = grid_points(dims)
    assert points == [
        {"lr": 0.01, "conv2d_1.out_channels": 4},
        {"lr": 0.01, "conv2d_1.out_channels": 8},
        {"lr": 0.1, "conv2d_1.out_channels": 4},
        {"lr": 0.1, "conv2d_1.out_channels": 8},
    ]
    config = TrainConfig.from_dict(lenet.training)
    project, changed = apply_point(lenet, config, points[3], dims)
    assert changed.lr == 0.1 and changed.dataset == "shapes_gray"
    assert project.training["lr"] == 0.1
    assert project.graph.node("conv2d_1").params["out_channels"] == 8
    assert lenet.graph.node("conv2d_1").params["out_channels"] == 6  # the original is untouched
    assert config.lr == 0.05
