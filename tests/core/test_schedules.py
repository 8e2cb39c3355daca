"""LR schedules: each checked against its formula, and against torch's scheduler where one
exists."""

from __future__ import annotations

import math

import pytest
import torch

from app.core.training.config import TrainConfig
from app.core.training.schedules import build_schedule, cycle_ends, preview

SPE = 7  # steps per epoch


def torch_lrs(make, epochs: int, per_step: bool) -> list[float]:
    """LR per step from a torch scheduler stepped per step or per epoch."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        for _ in range(SPE):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if per_step:
                sched.step()
        if not per_step:
            sched.step()
    return out


def ours(**kw) -> list[float]:
    return preview(TrainConfig.from_dict({"lr": 0.1, **kw}), SPE)


@pytest.mark.parametrize(
    ("kw", "make", "per_step"),
    [
        (
            {"schedule": "step", "step_size": 3, "gamma": 0.5, "epochs": 10},
            lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5),
            False,
        ),
        (
            {"schedule": "multistep", "milestones": [2, 5], "gamma": 0.1, "epochs": 8},
            lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 5], 0.1),
            False,
        ),
        (
            {"schedule": "exponential", "gamma": 0.8, "epochs": 6},
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.8),
            False,
        ),
        (
            {"schedule": "cosine", "eta_min": 0.001, "epochs": 5},
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5 * SPE, 0.001),
            True,
        ),
        (
            {"schedule": "cosine_restarts", "restart_period": 2, "restart_mult": 2, "epochs": 14},
            lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 2 * SPE, 2),
            True,
        ),
        (
            {"schedule": "one_cycle", "pct_start": 0.3, "epochs": 6},
            lambda o: torch.optim.lr_scheduler.OneCycleLR(
                o, 0.1, total_steps=6 * SPE, pct_start=0.3
            ),
            True,
        ),
    ],
)
def test_matches_torch_scheduler(kw, make, per_step):
    expected = torch_lrs(make, kw["epochs"], per_step)
    assert ours(**kw) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_constant_and_diminishing_formulas():
    assert set(ours(epochs=3)) == {0.1}
    inv = ours(schedule="inverse_epoch", epochs=4)
    assert inv[0] == 0.1 and inv[SPE] == pytest.approx(0.1 / 2) and inv[-1] == pytest.approx(0.025)
    sq = ours(schedule="inverse_sqrt", epochs=2)
    for step in (0, 3, 13):
        assert sq[step] == pytest.approx(0.1 / math.sqrt(step + 1))


def test_linear_warmup_then_schedule():
    lrs = ours(schedule="cosine", warmup_epochs=2, epochs=6)
    warm = 2 * SPE
    assert lrs[:warm] == pytest.approx([0.1 * (i + 1) / warm for i in range(warm)])
    rest = preview(TrainConfig.from_dict({"lr": 0.1, "schedule": "cosine", "epochs": 4}), SPE)
    assert lrs[warm:] == pytest.approx(rest)
    assert len(lrs) == 6 * SPE


def test_snapshot_cycles():
    config = TrainConfig.from_dict(
        {"lr": 0.1, "schedule": "cosine", "snapshots": 3, "epochs": 6, "eta_min": 0.0}
    )
    lrs = preview(config, SPE)
    ends = cycle_ends(config, SPE)
    assert ends == [13, 27, 41]
    for end in ends[:-1]:
        assert lrs[end] < 0.01 and lrs[end + 1] == pytest.approx(0.1)


def test_schedule_is_a_pure_function():
    config = TrainConfig.from_dict({"schedule": "one_cycle", "epochs": 3})
    a, b = build_schedule(config, SPE), build_schedule(config, SPE)
    assert [a(s) for s in range(21)] == [b(s) for s in reversed(range(21))][::-1]


# Edge cases a mutation run found untested (scripts/mutation.sh): one step per epoch, a
# warm-up as long as the run, cycles that do not divide the run, a floor for eta_min.
def test_one_step_per_epoch():
    config = TrainConfig.from_dict(
        {"lr": 0.1, "schedule": "step", "step_size": 1, "gamma": 0.5, "epochs": 4}
    )
    assert preview(config, 1) == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert build_schedule(config, 1)(2) == pytest.approx(0.025)
    assert build_schedule(config, 0)(2) == pytest.approx(0.025)  # an empty epoch counts as 1


def test_a_warm_up_as_long_as_the_run_still_ends_on_the_schedule():
    """Warm-up is capped one step short of the run: its last step is the schedule's first."""
    lrs = ours(schedule="one_cycle", warmup_epochs=2, epochs=2)
    warm = 2 * SPE - 1
    assert lrs[:warm] == pytest.approx([0.1 * (i + 1) / warm for i in range(warm)])
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)  # a one-step one-cycle: its final value


def test_snapshot_cycles_that_do_not_divide_the_run():
    config = TrainConfig.from_dict(
        {"lr": 0.1, "schedule": "cosine", "snapshots": 3, "epochs": 1, "eta_min": 0.0}
    )
    lrs = preview(config, 10)  # 10 steps, cycles of 3 (the last step starts a fourth)
    assert [i for i, lr in enumerate(lrs) if lr == pytest.approx(0.1)] == [0, 3, 6, 9]
    assert cycle_ends(config, 10) == [2, 5, 8]
    warm = TrainConfig.from_dict({**config.to_dict(), "warmup_epochs": 1, "epochs": 4})
    assert cycle_ends(warm, 10) == [19, 29, 39]  # after the 10 warm-up steps: 30 // 3 each


def test_one_step_cycles_stay_at_the_peak():
    config = TrainConfig.from_dict({"lr": 0.1, "schedule": "cosine", "snapshots": 4, "epochs": 1})
    assert preview(config, 4) == pytest.approx([0.1] * 4)
    assert cycle_ends(config, 4) == [0, 1, 2, 3]


def test_warm_restarts_fall_to_eta_min():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, 2 * SPE, 2, eta_min=0.01)
    expected = []
    for _ in range(6 * SPE):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = ours(schedule="cosine_restarts", restart_period=2, restart_mult=2, eta_min=0.01, epochs=6)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("steps", "pct", "first"), [(10, 0.1, 0.1), (5, 0.3, 0.1 / 25)])
def test_one_cycle_with_a_rise_of_one_step_or_less(steps, pct, first):
    """pct·total − 1 ≤ 1: the rise ends at or before step 1 (0.1·10 − 1 = 0: step 0 is the
    peak; 0.3·5 − 1 = 0.5: step 0 is the start of the rise)."""
    config = TrainConfig.from_dict(
        {"lr": 0.1, "schedule": "one_cycle", "pct_start": pct, "epochs": 1}
    )
    lrs = preview(config, steps)
    assert lrs[0] == pytest.approx(first)
    assert max(lrs) <= 0.1 + 1e-12 and lrs[-1] == pytest.approx(0.1 / 25 / 1e4)


def test_snapshot_ends_with_one_step_per_epoch():
    config = TrainConfig.from_dict({"schedule": "cosine", "snapshots": 3, "epochs": 6})
    assert cycle_ends(config, 1) == [1, 3, 5]
    warm = TrainConfig.from_dict({**config.to_dict(), "warmup_epochs": 2, "snapshots": 2})
    assert cycle_ends(warm, 1) == [3, 5]  # cycles of (6 − 2) // 2 steps after the warm-up
