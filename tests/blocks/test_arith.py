"""The output-size arithmetic on its own: each value a user reads (the formula's fields, the
numbers a fix suggests, receptive fields, a composite's parameters and MACs) against a hand
count. Written to kill the mutants that survived the block grids (scripts/mutation.sh)."""

from __future__ import annotations

import pytest

from blocks.arith import Tally, rf_chain, spatial_input, window
from blocks.base import Formula, ShapeError


def test_same_padding_keeps_the_size_and_records_the_numbers():
    f = window("H", 9, 5, 1, "same", dilation=2)
    assert f == Formula("H", 9, 9, 4, 1, 9, 2, 5, same=True)
    assert isinstance(f.padding, int)  # a whole number of pixels, not 4.0
    assert str(f) == "H_out = 9 (padding='same')"


@pytest.mark.parametrize(("kernel", "dilation", "padding"), [(5, 1, 2), (4, 1, 1), (3, 3, 3)])
def test_same_padding_with_a_stride_names_the_padding_to_use(kernel, dilation, padding):
    with pytest.raises(ShapeError) as info:
        window("W", 8, kernel, 2, "same", dilation)
    assert f"use padding={padding} with stride 2 instead" in str(info.value)


def test_pooling_padding_over_half_the_kernel_names_the_largest():
    with pytest.raises(ShapeError) as info:
        window("H", 8, 4, 1, 3, pool=True)
    assert str(info.value) == (
        "H: padding 3 is more than half the kernel 4 (PyTorch pooling needs P ≤ F/2): "
        "use padding ≤ 2"
    )


def test_a_kernel_larger_than_the_input_names_the_padding_that_fits():
    with pytest.raises(ShapeError) as info:
        window("W", 3, 8, 1, 0)
    message = str(info.value)
    assert message.startswith("W: kernel 8 > padded input 3 (3 + 2·0)")
    assert message.endswith("use padding ≥ 3 or a kernel ≤ 3")  # ceil((8 − 3) / 2) = 3


@pytest.mark.parametrize(("ceil", "word", "out"), [(False, "floor", -2), (True, "ceil", -2)])
def test_a_window_that_does_not_fit_says_which_rounding(ceil, word, out):
    with pytest.raises(ShapeError) as info:
        window("H", 2, 5, 1, 0, ceil=ceil, pool=True)
    assert f"H_out = {word}((2 − 5 + 2·0) / 1) + 1 = {out} ≤ 0" in str(info.value)


def test_dilation_three_and_more_widens_the_kernel():
    """F_eff = d·(F − 1) + 1: the grid covers d = 1, 2; larger dilations too."""
    for d, eff in [(3, 7), (4, 9), (5, 11)]:
        f = window("H", 32, 3, 1, 0, d)
        assert (f.kernel, f.out) == (eff, 32 - eff + 1)


@pytest.mark.parametrize(
    ("shape", "dims", "hint"),
    [
        ((12,), 2, "it receives a flat vector; remove the Flatten above or use a Linear layer"),
        ((3, 9), 2, "use the 1-D version of this block"),
        ((3, 4, 5), 1, "use the 2-D version of this block"),
        ((3, 4, 5, 6), 2, "use the 3-D version of this block"),
        ((1, 2, 3, 4, 5), 2, "reshape the input"),
    ],
)
def test_a_wrong_rank_says_what_to_use(shape, dims, hint):
    with pytest.raises(ShapeError) as info:
        spatial_input("Conv", shape, dims)
    assert str(info.value).endswith(f": {hint}")


def test_spatial_input_returns_the_spatial_sizes():
    assert spatial_input("Conv", (3, 4, 5), 2) == (4, 5)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([], (1, 1)),
        ([(3, 1), (3, 2), (3, 1)], (9, 2)),  # 1 + 2·1 + 2·1 + 2·2
        ([(7, 2), (3, 2)], (11, 4)),  # 1 + 6·1 + 2·2
        ([(1, 2), (3, 1), (1, 1)], (5, 2)),
    ],
)
def test_receptive_field_of_a_chain(layers, expected):
    kernel, jump = rf_chain(layers)
    assert (kernel, jump) == expected
    assert isinstance(kernel, int) and isinstance(jump, int)


def test_tally_counts_a_conv_by_hand():
    t = Tally()
    out = t.conv(16, 32, 3, (8, 8), stride=2, padding=1, groups=4, bias=True)
    assert out == (4, 4)
    per_out = (16 // 4) * 3 * 3  # 36 multiply-adds per output value
    assert t.params == 32 * per_out + 32
    assert t.macs == 32 * per_out * 4 * 4
    assert [(f.axis, f.out) for f in t.formulas] == [("H", 4), ("W", 4)]
    assert all(isinstance(v, int) for v in (t.params, t.macs))


def test_tally_counts_a_conv_on_a_non_square_input():
    t = Tally()
    assert t.conv(3, 8, 3, (10, 6), stride=2, padding=1) == (5, 3)
    assert t.macs == 8 * 27 * 5 * 3


def test_tally_adds_up_and_records_only_size_changes():
    t = Tally()
    assert t.conv(4, 4, 3, (6, 6), padding=1) == (6, 6)  # stride 1 by default, same size
    assert t.formulas == []
    assert t.conv(4, 8, 3, (6, 6)) == (4, 4)  # no padding: the size changes
    assert [str(f) for f in t.formulas] == [
        "H_out = floor((6 − 3 + 2·0) / 1) + 1 = 4",
        "W_out = floor((6 − 3 + 2·0) / 1) + 1 = 4",
    ]
    t.bn(8)
    assert t.params == 4 * 36 + 8 * 36 + 2 * 8
    assert t.macs == 4 * 36 * 36 + 8 * 36 * 16
