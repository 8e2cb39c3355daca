"""One training step of a prepared run, value by value: the loss, the L1 gradient, gradient
clipping, the per-layer report and the optimizer step, against the same computation written out
here with plain torch."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import presets
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from tests.helpers import SMALL_TRAINING as SMALL


def prepared(tmp_path, **options):
    config = TrainConfig.from_dict({**SMALL, "lr": 0.1, "momentum": 0.0, **options})
    trainer = Trainer(presets.get("lenet5").build(), config, runs_root=tmp_path)
    trainer.prepare()
    return trainer.p


def batch(p, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    return p.data.train.images[:n], p.data.train.labels[:n]  # type: ignore[attr-defined]


def expected_grads(p, images, labels, *, l1: float = 0.0) -> dict[str, torch.Tensor]:
    """The gradients a step should apply, before clipping: cross-entropy (plus L1's sign),
    computed on a copy (the run's own gradients stay as they are)."""
    model = copy.deepcopy(p.model)
    weights = {n: w.detach().clone() for n, w in model.named_parameters()}
    x = p.prep(images)
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x)[:, : p.classes], labels)
    loss.backward()
    grads = {}
    for name, w in model.named_parameters():
        g = w.grad.detach().clone()  # type: ignore[union-attr]
        if l1 and w.ndim > 1:
            g += l1 * torch.sign(weights[name])
        grads[name] = g
    return grads


def total_norm(grads: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads.values()))


def test_a_plain_step_applies_the_cross_entropy_gradient(tmp_path):
    p = prepared(tmp_path)
    images, labels = batch(p)
    grads = expected_grads(p, images, labels)
    before = {n: w.detach().clone() for n, w in p.model.named_parameters()}
    result = p.step(images, labels)
    assert result.norms is None  # no report asked
    with torch.no_grad():
        loss = nn.functional.cross_entropy(p.model(p.prep(images))[:, : p.classes], labels)
    assert float(result.loss.detach()) > float(loss)  # one SGD step lowered it
    for name, w in p.model.named_parameters():
        torch.testing.assert_close(w.detach(), before[name] - 0.1 * grads[name], msg=name)


@pytest.mark.parametrize("clip", [1e-3, 0.05])
def test_clipping_scales_the_whole_gradient_to_the_limit(tmp_path, clip):
    p = prepared(tmp_path, grad_clip=clip)
    images, labels = batch(p)
    grads = expected_grads(p, images, labels)
    norm = total_norm(grads)
    assert norm > clip  # the limit bites
    p.step(images, labels)
    after = {n: w.grad.detach() for n, w in p.model.named_parameters()}  # type: ignore[union-attr]
    assert total_norm(after) == pytest.approx(clip, rel=1e-4)
    for name, g in grads.items():  # same direction, every parameter scaled alike
        torch.testing.assert_close(after[name], g * (clip / norm), rtol=1e-4, atol=1e-9)


def test_a_limit_above_the_norm_leaves_the_gradient_alone(tmp_path):
    p = prepared(tmp_path, grad_clip=1e6)
    images, labels = batch(p)
    grads = expected_grads(p, images, labels)
    p.step(images, labels)
    for name, w in p.model.named_parameters():
        torch.testing.assert_close(w.grad, grads[name], msg=name)


def test_l1_adds_its_sign_gradient_to_weights_not_biases(tmp_path):
    p = prepared(tmp_path, l1=0.01)
    images, labels = batch(p)
    grads = expected_grads(p, images, labels, l1=0.01)
    p.step(images, labels)
    for name, w in p.model.named_parameters():
        torch.testing.assert_close(w.grad, grads[name], msg=name)


def test_l1_is_added_before_clipping(tmp_path):
    p = prepared(tmp_path, l1=0.5, grad_clip=0.1)
    images, labels = batch(p)
    grads = expected_grads(p, images, labels, l1=0.5)
    norm = total_norm(grads)
    p.step(images, labels)
    for name, w in p.model.named_parameters():
        torch.testing.assert_close(w.grad, grads[name] * (0.1 / norm), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_a_report_measures_the_norms_before_clipping(tmp_path, clip):
    p = prepared(tmp_path, grad_clip=clip)
    images, labels = batch(p)
    grads = expected_grads(p, images, labels)
    before = {n: w.detach().clone() for n, w in p.model.named_parameters()}
    result = p.step(images, labels, tick=lambda: True)
    norms = result.norms
    assert norms is not None
    assert norms.shape == (len(p.groups) + 1, 3)
    # the last row: the total gradient norm as computed, before any clipping
    assert float(norms[-1, 0]) == pytest.approx(total_norm(grads), rel=1e-4)
    params = dict(p.model.named_parameters())
    names = {id(w): n for n, w in params.items()}
    for row, ws in zip(norms[:-1], p.groups.values(), strict=True):
        keys = [names[id(w)] for w in ws]
        grad = math.sqrt(sum(float(params[k].grad.double().pow(2).sum()) for k in keys))  # type: ignore[union-attr]
        weight = math.sqrt(sum(float(params[k].detach().double().pow(2).sum()) for k in keys))
        update = math.sqrt(
            sum(float((params[k].detach() - before[k]).double().pow(2).sum()) for k in keys)
        )
        assert float(row[0]) == pytest.approx(grad, rel=1e-4)  # after clipping
        assert float(row[1]) == pytest.approx(weight, rel=1e-4)
        assert float(row[2]) == pytest.approx(update, rel=1e-4)
        assert update > 0


def test_without_a_report_the_step_skips_the_norms_and_clipping_work(tmp_path, monkeypatch):
    p = prepared(tmp_path)
    calls = []
    monkeypatch.setattr(nn.utils, "clip_grad_norm_", lambda *a, **k: calls.append(a))
    p.step(*batch(p))
    assert calls == []  # neither a clip nor a norm was asked for


def test_the_loss_is_cross_entropy_with_the_label_smoothing(tmp_path):
    p = prepared(tmp_path, label_smoothing=0.2)
    result = p.step(*batch(p))
    expected = nn.functional.cross_entropy(
        result.out.detach().float(), result.targets, label_smoothing=0.2
    )
    assert float(result.loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    plain = nn.functional.cross_entropy(result.out.detach().float(), result.targets)
    assert abs(float(result.loss.detach()) - float(plain)) > 1e-5  # near-uniform outputs at init


def test_each_step_starts_from_fresh_gradients(tmp_path):
    """The second step applies the gradient at the new weights, not the sum of both."""
    p = prepared(tmp_path)
    images, labels = batch(p)
    p.step(images, labels)
    grads = expected_grads(p, images, labels)
    p.step(images, labels)
    for name, w in p.model.named_parameters():
        torch.testing.assert_close(w.grad, grads[name], msg=name)
