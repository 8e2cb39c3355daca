"""Live per-layer activation histograms (issue 19, the ``activation_histograms`` setting):
each report carries, for every layer with weights, the shares of its outputs in log-scale
bins, computed on the report's batch; off by default (no extra forward pass)."""

from __future__ import annotations

import pytest
import torch

from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import HISTOGRAM_BINS, HISTOGRAM_EDGES, StepReport
from app.core.training.reporting import activation_histograms
from tests.helpers import SMALL_TRAINING, relu_net


def test_each_report_carries_every_layer_s_histogram_of_the_report_batch(tmp_path, monkeypatch):
    seen = []
    real = activation_histograms

    def spy(model, names, x):
        result = real(model, names, x)
        seen.append(
            (x.clone(), result.clone(), {k: v.clone() for k, v in model.state_dict().items()})
        )
        return result

    monkeypatch.setattr("app.core.training.engine.activation_histograms", spy)
    config = TrainConfig.from_dict({**SMALL_TRAINING, "epochs": 1, "activation_histograms": True})
    trainer = Trainer(relu_net(), config, runs_root=tmp_path)
    reports = [e for e in trainer.run() if isinstance(e, StepReport)]
    assert len(reports) == len(seen) >= 4
    layers = reports[-1].layers
    assert [s.node_id for s in layers] == ["conv2d_1", "linear_1", "linear_2"]
    for stat in layers:
        assert len(stat.histogram) == len(HISTOGRAM_BINS) == len(HISTOGRAM_EDGES) + 1
        assert sum(stat.histogram) == pytest.approx(1.0, abs=1e-5)
    # the numbers are those of the report's batch, through the weights of that moment
    x, hists, state = seen[-1]
    model = trainer.p.model
    model.load_state_dict(state)
    with torch.no_grad():
        out = model.eval().get_submodule("conv2d_1")(x)
    edges = torch.tensor(HISTOGRAM_EDGES)
    counts = torch.bincount(torch.bucketize(out.flatten(), edges), minlength=len(edges) + 1)
    expected = (counts / out.numel()).tolist()
    assert list(layers[0].histogram) == pytest.approx(expected, abs=1e-6)
    assert torch.equal(hists[0], counts.float() / out.numel())


def test_off_by_default_no_extra_forward_pass(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        "app.core.training.engine.activation_histograms", lambda *a: calls.append(a)
    )
    config = TrainConfig.from_dict({**SMALL_TRAINING, "epochs": 1})
    reports = [
        e
        for e in Trainer(relu_net(), config, runs_root=tmp_path).run()
        if isinstance(e, StepReport)
    ]
    assert calls == [] and all(s.histogram == () for r in reports for s in r.layers)
