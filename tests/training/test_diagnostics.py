"""LR range test, overfit-one-batch, checkpoint ensembles, TTA, bf16 autocast, channels_last."""

from __future__ import annotations

import itertools

import pytest
import torch

import presets
from app.cli import main
from app.core.training.config import TrainConfig
from app.core.training.diagnostics import evaluate_checkpoints, lr_range_test, overfit_one_batch
from app.core.training.engine import Trainer
from app.core.training.events import EpochReport, RunFinished
from tests.helpers import chain, image

SMALL = {"dataset": "shapes_gray", "train_size": 1024, "val_size": 256, "batch_size": 64}


def lenet():
    return presets.get("lenet5").build()


def test_lr_range_test_rises_exponentially_and_stops_at_divergence():
    result = lr_range_test(lenet(), TrainConfig.from_dict(SMALL), start=1e-5, end=100, steps=60)
    lrs = result.lrs
    assert lrs[0] == pytest.approx(1e-5)
    ratios = [b / a for a, b in itertools.pairwise(lrs)]
    assert max(ratios) == pytest.approx(min(ratios))
    assert len(lrs) < 60  # diverged before 100
    assert 1e-3 < result.suggested < 5


def test_overfit_one_batch_passes_for_a_sound_network_and_fails_for_a_broken_one():
    good = overfit_one_batch(
        lenet(), TrainConfig.from_dict({**SMALL, "optimizer": "adam", "lr": 0.003}), steps=150
    )
    assert good.passed and good.accuracy == 1.0
    # everything squeezed through one feature: a single batch cannot be memorised
    broken = chain(image(1, 28, 28), ("global_avgpool", {}), ("linear", {"out_features": 10}))
    bad = overfit_one_batch(
        broken, TrainConfig.from_dict({**SMALL, "optimizer": "adam", "lr": 0.003}), steps=150
    )
    assert not bad.passed


def test_cli_diagnostics(capsys):
    assert (
        main(
            [
                "train",
                "presets:lenet5",
                "--dataset",
                "shapes_gray",
                "--train-size",
                "1024",
                "--overfit-batch",
                "--optimizer",
                "adam",
                "--lr",
                "0.003",
            ]
        )
        == 0
    )
    assert "overfit one batch: PASSED" in capsys.readouterr().out
    assert (
        main(
            [
                "train",
                "presets:lenet5",
                "--dataset",
                "shapes_gray",
                "--train-size",
                "1024",
                "--lr-find",
            ]
        )
        == 0
    )
    assert "suggested learning rate:" in capsys.readouterr().out


def test_ensemble_of_checkpoints_and_tta(tmp_path):
    config = TrainConfig.from_dict({**SMALL, "epochs": 2, "nesterov": True})
    trainer = Trainer(lenet(), config, runs_root=tmp_path)
    events = list(trainer.run())
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    ckpt = trainer.run_dir.path / "checkpoints"
    single = evaluate_checkpoints(lenet(), config, [ckpt / "best.pt"])
    assert single.acc == pytest.approx(finished.best_val_acc)
    both = evaluate_checkpoints(lenet(), config, [ckpt / "best.pt", ckpt / "last.pt"])
    assert 0 <= both.acc <= 1 and both.top5 >= both.acc
    for mode in ("flip", "flip_crops"):
        tta = evaluate_checkpoints(lenet(), config.replace(tta=mode), [ckpt / "best.pt"])
        assert tta.loss != single.loss  # the averaged views change the prediction


def test_tta_views():
    from app.core.training.evaluate import tta_views

    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    assert len(tta_views(x, "none")) == 1
    flip = tta_views(x, "flip")
    assert len(flip) == 2 and torch.equal(flip[1][..., 0], x[..., -1])
    crops = tta_views(x, "flip_crops")
    assert len(crops) == 6 and all(v.shape == x.shape for v in crops)
    assert torch.equal(crops[5][..., :2, :2], x[..., 2:, 2:])  # shifted by 2 pixels


@pytest.mark.parametrize(
    "options", [{"amp": "bf16"}, {"channels_last": True}, {"amp": "bf16", "channels_last": True}]
)
def test_mixed_precision_and_channels_last_train_on_cpu(tmp_path, options):
    config = TrainConfig.from_dict({**SMALL, "dataset": "shapes", "epochs": 1, **options})
    events = list(
        Trainer(
            presets.get("resnet18_cifar").build(),
            # 4 steps of 16: bf16 on a CPU without AMX is emulated (8 steps of 32 took 31 s)
            config.replace(train_size=64, val_size=16, batch_size=16),
            runs_root=tmp_path,
        ).run()
    )
    assert isinstance(events[-1], RunFinished), events[-1]
    epoch = next(e for e in events if isinstance(e, EpochReport))
    assert torch.isfinite(torch.tensor(epoch.train_loss))


def test_cli_evaluate_checkpoint_ensemble(tmp_path, capsys):
    args = ["--dataset", "shapes_gray", "--train-size", "512", "--val-size", "128"]
    assert main(["train", "presets:lenet5", *args, "--epochs", "2", "--runs", str(tmp_path)]) == 0
    capsys.readouterr()
    (run,) = tmp_path.iterdir()
    best, last = run / "checkpoints" / "best.pt", run / "checkpoints" / "last.pt"
    assert (
        main(
            [
                "evaluate",
                "presets:lenet5",
                *args,
                "--checkpoint",
                str(best),
                "--checkpoint",
                str(last),
                "--tta",
                "flip",
            ]
        )
        == 0
    )
    assert "ensemble of 2 on the validation set: loss" in capsys.readouterr().out
    assert main(["evaluate", "presets:mlp", *args, "--checkpoint", str(best)]) == 1
    assert "does not fit this network" in capsys.readouterr().err


def test_torch_compile_option_trains(tmp_path):
    """torch.compile on CPU (about 30 s of compilation here): the run completes and learns
    the same thing as eager mode."""
    config = TrainConfig.from_dict(
        {**SMALL, "train_size": 256, "val_size": 64, "epochs": 1, "compile": True}
    )
    events = list(Trainer(lenet(), config, runs_root=tmp_path).run())
    assert isinstance(events[-1], RunFinished), events[-1]
    eager = list(Trainer(lenet(), config.replace(compile=False), runs_root=tmp_path).run())
    a = next(e for e in events if isinstance(e, EpochReport))
    b = next(e for e in eager if isinstance(e, EpochReport))
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-3)
