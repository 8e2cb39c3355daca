"""Predicting with a trained network: ``main.py predict RUN_DIR|CHECKPOINT IMAGE…`` on image
files written here, with the preprocessing of training, and clear messages for what cannot
be used."""

from __future__ import annotations

import pytest
import torch

import presets
from app.cli import main
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import RunFinished, RunStarted
from app.core.training.portable.shapes import CLASSES
from app.core.training.predict import PredictError, load_predictor
from tests.helpers import SMALL_TRAINING


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A LeNet-5 trained briefly on the grey shapes, and four validation images as PNGs."""
    from PIL import Image

    root = tmp_path_factory.mktemp("predict")
    trainer = Trainer(
        presets.get("lenet5").build(),
        TrainConfig.from_dict({**SMALL_TRAINING, "epochs": 3}),
        runs_root=root / "runs",
    )
    events = list(trainer.run())
    assert isinstance(events[-1], RunFinished)
    started = next(e for e in events if isinstance(e, RunStarted))
    val = trainer.p.data.val
    images = []
    for i in range(4):
        path = root / f"image{i}.png"
        Image.fromarray(val.images[i, 0].numpy(), mode="L").save(path)  # type: ignore[attr-defined]
        images.append(path)
    return trainer, started, images


def test_an_image_file_gets_exactly_the_training_preprocessing_and_the_model_s_answer(trained):
    trainer, started, images = trained
    assert load_predictor(started.run_dir).source.endswith("(best checkpoint)")
    predictor = load_predictor(started.run_dir, "last")  # the weights the trainer ended with
    assert predictor.classes == CLASSES
    val = trainer.p.data.val
    x = predictor.tensor(images[1])
    assert torch.equal(x, trainer.p.prep(val.images[1:2]))  # type: ignore[attr-defined]
    model = trainer.p.model.eval()
    with torch.no_grad():
        expected = torch.softmax(model(x)[0], 0)
    [p] = predictor.predict([images[1]], k=5)
    assert len(p.top) == 5
    assert [name for name, _ in p.top] == [CLASSES[i] for i in expected.topk(5).indices]
    assert [prob for _, prob in p.top] == pytest.approx(expected.topk(5).values.tolist())


def test_the_cli_prints_the_top_classes_of_each_image(trained, capsys):
    _, started, images = trained
    assert main(["predict", started.run_dir, str(images[0]), str(images[2])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(best checkpoint):")
    assert out[1] == str(images[0]) and out[7] == str(images[2])
    rows = out[2:7]
    assert all(row.split()[0] in CLASSES and row.endswith("%") for row in rows)
    probs = [float(row.split()[-1].rstrip("%")) for row in rows]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 100.01
    last = f"{started.run_dir}/checkpoints/last.pt"
    assert main(["predict", last, str(images[0]), "--top", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(last checkpoint):") and len(out) == 4


def test_what_cannot_be_used_is_said_plainly(trained, tmp_path, capsys):
    _, started, images = trained
    stray = tmp_path / "stray.pt"
    stray.write_bytes(b"x")
    with pytest.raises(PredictError, match="is not inside a run folder"):
        load_predictor(stray)
    with pytest.raises(PredictError, match="is not a run folder"):
        load_predictor(tmp_path)
    predictor = load_predictor(started.run_dir)
    with pytest.raises(PredictError, match=r"missing\.png: no such image file"):
        predictor.predict([tmp_path / "missing.png"])
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(PredictError, match=r"text\.png: not an image that can be read"):
        predictor.predict([tmp_path / "text.png"])
    assert main(["predict", "presets:lenet5", str(images[0])]) == 1
    assert "is a project, not a trained run" in capsys.readouterr().err


def test_published_pretrained_weights_name_their_imagenet_classes(tmp_path, monkeypatch, capsys):
    from PIL import Image
    from torchvision import models

    from app.core.training.pretrained import cached_file
    from app.core.weight_sets import weight_set

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ws = weight_set("SqueezeNet1_1_Weights.IMAGENET1K_V1")
    path = cached_file(ws)
    path.parent.mkdir(parents=True)
    torch.save(models.squeezenet1_1().state_dict(), path)
    Image.new("RGB", (300, 260), (200, 30, 40)).save(tmp_path / "red.jpg")
    args = ["predict", "presets:squeezenet1_1", str(tmp_path / "red.jpg")]
    assert main([*args, "--pretrained", ws.name]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "SqueezeNet1_1_Weights.IMAGENET1K_V1 as published:"
    assert all(row.strip().rsplit(" ", 1)[0].strip() in ws.categories for row in out[2:7])
