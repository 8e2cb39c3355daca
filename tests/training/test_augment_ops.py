"""The batch augmentations against what they promise, value by value: written for the mutants
of portable/augment_ops.py that survived the engine's tests (docs/mutation.md)."""

from __future__ import annotations

import random

import torch

from app.core.training.portable.augment_ops import (
    _rand,
    _randint,
    color_jitter,
    cutout,
    mixup,
    random_crop,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_draw_comes_from_the_given_generator():
    """Seeded runs repeat whatever the global RNG did in between (resume, the exported
    script): no draw may fall back to torch's global generator."""
    like = torch.zeros(1)
    draws = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        g = gen(5)
        x = torch.rand(6, 3, 4, 4, generator=gen(9))
        labels = torch.tensor([0, 1, 2, 0, 1, 2])
        draws.append(
            (
                _rand(4, like, g),
                _randint(10, 4, like, g),
                mixup(x, labels, 3, 0.4, g, random.Random(1)),
            )
        )
    (r1, i1, (x1, y1)), (r2, i2, (x2, y2)) = draws
    assert torch.equal(r1, r2) and torch.equal(i1, i2)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_colour_jitter_is_brightness_then_contrast_then_saturation():
    x = torch.rand(5, 3, 6, 7, generator=gen(1))
    s = 0.4
    draws = gen(2)
    b, c, sat = (
        (1 + s * (2 * torch.rand(5, generator=draws) - 1)).view(-1, 1, 1, 1) for _ in "bcs"
    )
    expected = x * b
    mean = expected.mean(dim=(1, 2, 3), keepdim=True)
    expected = (expected - mean) * c + mean
    gray = 0.299 * expected[:, :1] + 0.587 * expected[:, 1:2] + 0.114 * expected[:, 2:]
    expected = ((expected - gray) * sat + gray).clamp(0, 1)
    torch.testing.assert_close(color_jitter(x, s, gen(2)), expected)
    assert not torch.equal(expected, expected.clamp(1, 1))


def test_colour_jitter_of_grey_images_has_no_saturation():
    x = torch.rand(4, 1, 3, 5, generator=gen(3))  # three rows: not to be taken for RGB
    draws = gen(4)
    b, c = ((1 + 0.5 * (2 * torch.rand(4, generator=draws) - 1)).view(-1, 1, 1, 1) for _ in "bc")
    expected = x * b
    mean = expected.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(
        color_jitter(x, 0.5, gen(4)), ((expected - mean) * c + mean).clamp(0, 1)
    )


def test_random_crop_shifts_by_every_offset_up_to_the_padding():
    n, p = 400, 2
    x = torch.zeros(n, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # one bright pixel in the middle
    out = random_crop(x, p, gen(7))
    rows, cols = (out[:, 0] == 1).nonzero()[:, 1:].T
    assert sorted(set((rows - 4).tolist())) == list(range(-p, p + 1))
    assert sorted(set((cols - 4).tolist())) == list(range(-p, p + 1))


def test_cutout_centres_a_size_by_size_square_on_a_drawn_pixel():
    n, h, w = 50, 12, 12
    x = torch.ones(n, 2, h, w)
    for size in (3, 4):
        out = cutout(x, size, gen(11))
        draws = gen(11)
        centre_y = torch.randint(h, (n,), generator=draws)
        centre_x = torch.randint(w, (n,), generator=draws)
        for i in range(n):
            zero = (out[i, 0] == 0).nonzero()
            top, left = int(centre_y[i]) - size // 2, int(centre_x[i]) - size // 2
            rows = range(max(0, top), min(h, top + size))
            cols = range(max(0, left), min(w, left + size))
            assert sorted(set(zero[:, 0].tolist())) == list(rows)
            assert sorted(set(zero[:, 1].tolist())) == list(cols)
            assert len(zero) == len(rows) * len(cols)
            assert torch.equal(out[i, 0], out[i, 1])  # every channel alike


def test_mixup_targets_span_every_class_even_unseen_ones():
    x = torch.rand(4, 1, 2, 2, generator=gen(0))
    labels = torch.tensor([0, 1, 0, 1])  # classes 2-4 absent from the batch
    _, targets = mixup(x, labels, 5, 0.4, gen(0), random.Random(0))
    assert targets.shape == (4, 5)
    torch.testing.assert_close(targets.sum(1), torch.ones(4))
