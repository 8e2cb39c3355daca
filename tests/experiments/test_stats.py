"""Seed statistics against hand computations."""

from __future__ import annotations

import math

import pytest

from app.core.experiments.stats import mean_interval, t95, welch


def test_interval_of_three_seeds_by_hand():
    # mean 0.8; deviations -0.02, 0, +0.02 → s = sqrt(0.0008 / 2) = 0.02
    iv = mean_interval([0.78, 0.80, 0.82])
    assert iv.mean == pytest.approx(0.80)
    assert iv.sd == pytest.approx(0.02)
    # t(0.975, 2) = 4.303; half = 4.303 · 0.02 / √3 = 0.049687…
    assert iv.half == pytest.approx(4.303 * 0.02 / math.sqrt(3))
    assert iv.half == pytest.approx(0.04969, abs=1e-5)
    assert iv.text() == "0.800 ± 0.050"
    assert iv.text(percent=True) == "80.0% ± 5.0%"
    assert (iv.low, iv.high) == pytest.approx((0.80 - iv.half, 0.80 + iv.half))


def test_one_value_has_no_interval_and_none_is_an_error():
    iv = mean_interval([0.5])
    assert (iv.mean, iv.half, iv.n) == (0.5, None, 1)
    assert iv.text() == "0.500"
    with pytest.raises(ValueError):
        mean_interval([])


@pytest.mark.parametrize(
    ("df", "exact"),
    [(1, 12.7062), (2, 4.3027), (9, 2.2622), (30, 2.0423), (40, 2.0211), (60, 2.0003),
     (120, 1.9799), (1000, 1.9623)],
)  # fmt: skip
def test_t_quantiles_match_the_distribution(df, exact):
    assert t95(df) == pytest.approx(exact, abs=1.5e-3)


def test_a_fractional_df_takes_the_wider_interval():
    assert t95(4.7) == t95(4)


def test_welch_difference_by_hand():
    a, b = [0.70, 0.72, 0.74], [0.80, 0.81, 0.82]
    d = welch(a, b)
    va, vb = 0.02**2 / 3, 0.01**2 / 3  # s_a = 0.02, s_b = 0.01
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    assert d.delta == pytest.approx(0.09)
    assert d.df == pytest.approx(df)  # 2.94…: t(0.975, 2) is used
    assert d.half == pytest.approx(t95(2) * math.sqrt(va + vb))
    assert d.clear  # 0.09 > 0.0555
    assert "beyond the seed spread" in d.text()


def test_overlapping_groups_are_within_the_spread():
    d = welch([0.70, 0.80, 0.90], [0.72, 0.82, 0.92])
    assert not d.clear
    assert "within the seed spread" in d.text(percent=True)
    assert welch([0.7], [0.8]).half is None


def test_the_per_step_loss_is_smoothed_as_tensorboard_does_and_debiased():
    import math

    from app.core.experiments.runs import smoothed

    assert smoothed([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no pull towards 0
    # weight ½ by hand: 0 → 0; (½·0 + ½·10) / (1 − ¼) = 6.667; (½·5 + ½·4) / (1 − ⅛) = 5.143
    assert smoothed([0.0, 10.0, 4.0], 0.5) == pytest.approx([0.0, 20 / 3, 36 / 7])
    out = smoothed([1.0, math.nan, 3.0], 0.5)  # a NaN step is shown as it is, not averaged in
    assert math.isnan(out[1]) and out[2] == pytest.approx((0.5 * 0.5 + 0.5 * 3) / 0.75)
