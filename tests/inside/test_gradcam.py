"""Grad-CAM and saliency (issue 19): the map is the formula's, the built-in shapes report
each object's box, and the localisation score counts peaks inside boxes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import presets
from app.core.compiler import compile_graph
from app.core.training.inside.gradcam import (
    default_cam_node,
    gradcam,
    localisation,
    saliency,
)
from app.core.training.portable.shapes import draw_shapes, make_shapes


def test_grad_cam_is_the_channel_weighted_sum_of_the_maps_scaled_to_the_image():
    graph = presets.get("lenet5").build()
    torch.manual_seed(0)
    model = compile_graph(graph).eval()
    x = torch.randn(3, 1, 28, 28)
    node = default_cam_node(graph)
    assert node == "conv2d_2"
    cam = gradcam(model, graph, node, x)
    # by hand: the maps, the gradient of the predicted score, the weighted sum
    maps = []
    handle = model.get_submodule(node).register_forward_hook(lambda m, i, o: maps.append(o))
    out = model(x)
    handle.remove()
    a = maps[0]
    score = out.gather(1, out.argmax(1, keepdim=True)).sum()
    (grads,) = torch.autograd.grad(score, a)
    raw = torch.relu((grads.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    up = nn.functional.interpolate(raw, size=(28, 28), mode="bilinear", align_corners=False)[:, 0]
    flat = up.flatten(1)
    low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    expected = ((flat - low) / (high - low)).view_as(up)
    torch.testing.assert_close(cam.heat, expected.detach())
    assert torch.equal(cam.predicted, out.argmax(1)) and torch.equal(cam.target, cam.predicted)
    other = gradcam(model, graph, node, x, target=torch.tensor([1, 2, 3]))
    assert other.target.tolist() == [1, 2, 3]
    sal = saliency(model, x)
    assert sal.heat.shape == (3, 28, 28) and float(sal.heat.amax()) == pytest.approx(1.0)


def test_each_shape_s_box_is_the_smallest_that_holds_it():
    images, labels, boxes = draw_shapes(40, 32, 3, seed=9)
    again, same_labels = make_shapes(40, 32, 3, seed=9)
    assert torch.equal(images, again) and torch.equal(labels, same_labels)
    # without noise a shape's pixels are exactly the bright ones (its colour is at least 0.5
    # in every channel, the background at most 0.45)
    clean, _, same_boxes = draw_shapes(40, 32, 3, seed=9, noise=0.0)
    assert torch.equal(same_boxes, boxes)
    for i in range(40):
        shape = clean[i, 0] > 0.475
        rows, cols = shape.any(1).nonzero().flatten(), shape.any(0).nonzero().flatten()
        expected = [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]
        assert boxes[i].tolist() == expected, i


def test_localisation_counts_peaks_inside_boxes_on_correct_images_only():
    heat = torch.zeros(3, 10, 10)
    heat[0, 2, 3] = 1  # inside box 0
    heat[1, 9, 9] = 1  # outside box 1
    heat[2, 5, 5] = 1  # inside, but image 2 is misclassified
    boxes = torch.tensor([[1, 1, 4, 4], [0, 0, 4, 4], [4, 4, 6, 6]])
    found = localisation(heat, boxes, torch.tensor([True, True, False]))
    assert (found.hits, found.images) == (1, 2) and found.rate == 0.5
    assert found.baseline == pytest.approx((16 + 25) / 2 / 100)


def test_inspect_gradcam_reports_localisation_and_draws_the_overlays(tmp_path, capsys):
    from PIL import Image

    from app.cli import main

    args = ["train", "presets:lenet5", "--train-size", "512", "--val-size", "64"]
    assert main([*args, "--epochs", "1", "--runs", str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    png = tmp_path / "cam.png"
    assert main(["inspect", "gradcam", str(run), "--count", "4", "-o", str(png)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(best checkpoint): Grad-CAM at conv2d_2")
    assert out[1].startswith("on 256 validation images: peak inside the object's box for ")
    with Image.open(png) as img:
        assert img.size[0] > 600
    assert main(["inspect", "gradcam", str(run), "--saliency"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(": saliency")
    assert main(["inspect", "gradcam", str(run), "--node", "linear_1"]) == 1
    assert "linear_1's output has no spatial map" in capsys.readouterr().err
