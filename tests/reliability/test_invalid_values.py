"""Every block parameter, training setting and CLI flag refuses invalid values with a reason
that names it (the GUI editors take their ranges from the same specs: tests/ui)."""

from __future__ import annotations

import math

import pytest

from app.cli import main
from app.core.training.config import ConfigError, TrainConfig, settings
from blocks import REGISTRY, InvalidParamError
from blocks.params import Param


def bad_values(spec: Param) -> list:
    """Values outside the spec: wrong type, below the minimum, above the maximum."""
    if spec.kind == "bool":
        return ["yes", 1, None]
    if spec.kind == "choice":
        return ["bogus", 3, None]
    if spec.kind == "text":
        return [3, None, "x" * 5000]
    if spec.kind == "ints":
        return ["30,60", [1.5], [-(10**9)]]
    values: list = ["abc", None, [1]]
    if spec.kind == "float":
        values += [math.nan, math.inf, True]
    step = 1 if spec.kind in ("int", "padding") else 1e-3
    if spec.minimum is not None:
        values.append(spec.minimum - step)
    elif spec.kind == "padding":
        values.append(-1)
    if spec.maximum is not None:
        values.append(spec.maximum if spec.max_exclusive else spec.maximum + step)
    return values


BLOCK_PARAMS = [(b.type_id, p) for b in REGISTRY for p in b.params]


@pytest.mark.parametrize(("type_id", "spec"), BLOCK_PARAMS, ids=lambda v: getattr(v, "name", v))
def test_every_block_parameter_refuses_bad_values_with_a_reason(type_id, spec):
    block = REGISTRY.get(type_id)
    for value in bad_values(spec):
        with pytest.raises(InvalidParamError) as info:
            block.validate({spec.name: value})
        assert spec.name in str(info.value) and len(str(info.value)) > len(spec.name) + 5


@pytest.mark.parametrize(
    ("type_id", "name", "value", "reason"),
    [
        ("dropout", "p", 1.0, "must be less than 1"),
        ("dropout", "p", -0.1, "below the minimum 0"),
        ("conv2d", "kernel_h", 0, "below the minimum 1"),
        ("conv2d", "padding", -1, "below the minimum 0"),
        ("conv2d", "stride", 0, "below the minimum 1"),
        ("conv2d", "out_channels", 0, "below the minimum 1"),
        ("linear", "out_features", 0, "below the minimum 1"),
    ],
)
def test_the_classic_mistakes(type_id, name, value, reason):
    with pytest.raises(InvalidParamError, match=reason):
        REGISTRY.get(type_id).validate({name: value})


@pytest.mark.parametrize("spec", settings(), ids=lambda p: p.name)
def test_every_training_setting_refuses_bad_values(spec):
    for value in bad_values(spec):
        with pytest.raises(ConfigError) as info:
            TrainConfig.from_dict({spec.name: value})
        assert info.value.problems[0].startswith(f"{spec.name}:")


NUMERIC_FLAGS = [p for p in settings() if p.kind in ("int", "float") and p.minimum is not None]


@pytest.mark.parametrize("spec", NUMERIC_FLAGS, ids=lambda p: p.name)
def test_every_numeric_cli_flag_refuses_out_of_range_values(spec, capsys):
    step = 1 if spec.kind == "int" else 1e-3
    flag = "--" + spec.name.replace("_", "-")
    assert main(["train", "presets:lenet5", flag, str(spec.minimum - step)]) == 2
    err = capsys.readouterr().err
    assert f"{spec.name}:" in err and "minimum" in err


@pytest.mark.parametrize(
    "spec", [p for p in settings() if p.kind == "choice"], ids=lambda p: p.name
)
def test_every_choice_flag_lists_the_choices(spec, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "presets:lenet5", "--" + spec.name.replace("_", "-"), "bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and spec.choices[0] in err
