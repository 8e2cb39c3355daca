"""Augmentation preview (issue 19): the tensors shown are the ones the engine trains on at
that step, for every augmentation at once."""

from __future__ import annotations

import pytest
import torch

from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.inside.augmentation import preview
from app.core.training.prepared import PreparedRun
from tests.helpers import chain, image

EVERYTHING = {
    "dataset": "shapes",
    "train_size": 96,
    "val_size": 16,
    "batch_size": 32,
    "epochs": 2,
    "crop_padding": 4,
    "hflip": True,
    "vflip": True,
    "color_jitter": 0.4,
    "cutout": 8,
    "mixup_alpha": 0.4,
    "seed": 5,
}


def test_the_preview_is_what_the_engine_trains_on_at_that_step(tmp_path, monkeypatch):
    config = TrainConfig.from_dict(EVERYTHING)

    def graph():
        return chain(
            image(3, 32, 32),
            ("conv2d", {"out_channels": 8}),
            ("relu", {}),
            ("global_avgpool", {}),
            ("flatten", {}),
            ("linear", {"out_features": 10}),
        )

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real_step = PreparedRun.step

    def recording(self, images, labels, **kwargs):
        result = real_step(self, images, labels, **kwargs)
        seen.append((result.x.detach().clone(), result.targets.detach().clone()))
        return result

    monkeypatch.setattr(PreparedRun, "step", recording)
    list(Trainer(graph(), config, runs_root=tmp_path).run())
    assert len(seen) == 6  # 2 epochs of 3 steps
    for step in (0, 4):  # one in each epoch
        batch = preview(graph(), config, step, count=32)
        x, targets = seen[step]
        assert torch.equal(batch.augmented, x), step
        assert torch.equal(batch.targets, targets), step
        assert batch.targets.shape == (32, 10)  # mixup: soft targets
    view = preview(graph(), config, 4, count=8)
    assert view.originals.dtype == torch.uint8 and view.originals.shape == (8, 3, 32, 32)
    assert view.viewable().min() >= 0 and view.viewable().max() <= 1
    assert not torch.equal(view.viewable(), view.originals.float() / 255)  # it was augmented
    with pytest.raises(ValueError, match="step 6: this run has steps 0 to 5"):
        preview(graph(), config, 6)


def test_inspect_augment_writes_the_figure(tmp_path, capsys):
    from PIL import Image

    from app.cli import main

    png = tmp_path / "aug.png"
    args = ["inspect", "augment", "presets:lenet5", "--hflip", "--cutout", "6", "--step", "2"]
    assert main([*args, "--train-size", "256", "--count", "4", "-o", str(png)]) == 0
    assert capsys.readouterr().out.startswith("step 2: 4 images; augmentation: hflip, cutout")
    with Image.open(png) as img:
        assert img.size[0] > 400
    assert main(["inspect", "augment", "presets:lenet5", "--step", "99999"]) == 1
    assert "step 99999: this run has steps 0 to" in capsys.readouterr().err
