"""Loss landscapes (issue 19): filter-normalised directions, the centre of the plane, a
21×21 LeNet-5 surface with progress and cancellation, the line between two weights."""

from __future__ import annotations

import pytest
import torch

import presets
from app.core.compiler import compile_graph
from app.core.training.inside.landscape import (
    Cancelled,
    line,
    loss_of,
    random_direction,
    surface,
)


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    model = compile_graph(presets.get("lenet5").build())
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (64,), generator=gen)
    return model, x, y


def test_every_direction_filter_has_the_norm_of_the_weight_filter(lenet):
    model, _, _ = lenet
    d = random_direction(model, torch.Generator().manual_seed(4))
    weights = model.state_dict()
    checked = 0
    for name, w in weights.items():
        if name.endswith(".weight") and w.ndim > 1:  # conv and linear weights
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))
            checked += 1
        else:  # biases (and normalisation layers) are not moved
            assert not d[name].any(), name
    assert checked == 5


def test_a_21_by_21_surface_has_the_direct_loss_at_its_centre_reports_and_can_stop(lenet):
    model, x, y = lenet
    before = {k: v.clone() for k, v in model.state_dict().items()}
    direct = loss_of(model, x, y)
    calls: list[tuple[int, int]] = []
    s = surface(model, x, y, steps=21, span=1.0, progress=lambda d, t: calls.append((d, t)))
    assert len(s.losses) == 21 and all(len(row) == 21 for row in s.losses)
    assert s.losses[10][10] == pytest.approx(direct, rel=1e-6) and s.centre == pytest.approx(direct)
    assert calls[0] == (1, 441) and calls[-1] == (441, 441) and len(calls) == 441
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # restored
    assert s.sharpness(0.25) >= 0 and s.sharpness(1.0) >= s.sharpness(0.25)
    assert s.to_csv().count("\n") == 1 + 441
    stop_after = iter(range(10**6))
    with pytest.raises(Cancelled, match="stopped after 10 of 441 points"):
        surface(model, x, y, steps=21, should_stop=lambda: next(stop_after) >= 10)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_the_line_between_two_weights_passes_through_both(lenet):
    model, x, y = lenet
    a = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(9)
    other = compile_graph(presets.get("lenet5").build())
    b = {k: v.clone() for k, v in other.state_dict().items()}
    result = line(model, a, b, x, y, points=13, margin=0.25)
    assert result.alphas[0] == pytest.approx(-0.25) and result.alphas[-1] == pytest.approx(1.25)
    i0, i1 = result.alphas.index(0.0), min(range(13), key=lambda i: abs(result.alphas[i] - 1))
    model.load_state_dict(a)
    assert result.losses[i0] == pytest.approx(loss_of(model, x, y), rel=1e-6)
    model.load_state_dict(b)
    assert result.losses[i1] == pytest.approx(loss_of(model, x, y), rel=1e-6)


def test_inspect_landscape_compares_runs_and_draws_the_line_from_the_start(tmp_path, capsys):
    from PIL import Image

    from app.cli import main

    for batch in ("16", "128"):
        args = ["train", "presets:lenet5", "--train-size", "256", "--val-size", "32"]
        args += ["--batch-size", batch, "--epochs", "1", "--runs", str(tmp_path / batch)]
        assert main(args) == 0
    (small,), (large,) = (tmp_path / "16").iterdir(), (tmp_path / "128").iterdir()
    capsys.readouterr()
    png, csv = tmp_path / "land.png", tmp_path / "land.csv"
    args = ["inspect", "landscape", str(small), "--compare", str(large), "--line"]
    args += ["--steps", "5", "--images", "64", "-o", str(png), "--csv", str(csv)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("training images; sharpness ") == 2
    assert out.count("from its initialisation, loss ") == 2
    rows = csv.read_text().splitlines()
    assert rows[0] == "run,alpha,beta,loss" and len(rows) == 1 + 2 * 25
    with Image.open(png) as img:
        assert img.size[0] > 1000  # three panels
