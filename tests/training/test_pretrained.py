"""torchvision's pretrained weights: the catalogue equals torchvision's metadata; a file in
the torch hub cache loads with the network blocked (the autouse fixture of this folder);
offline without the file, the message names the file and the folder; a replaced classifier
keeps its initialisation and is named; the images get the weights' normalisation."""

from __future__ import annotations

import pytest
import torch

import presets
from app.core.compiler import compile_graph
from app.core.training.adapt import adapt_to_dataset
from app.core.training.config import ConfigError, TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import RunFinished, RunStarted
from app.core.training.pretrained import (
    PretrainedError,
    cached_file,
    fetch_state,
    fetch_with_progress,
    live_catalogue,
    load_pretrained,
)
from app.core.weight_sets import CATALOGUE, for_model, weight_set

RESNET18 = "ResNet18_Weights.IMAGENET1K_V1"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache of this test's own."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def place(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A locally made weights file under the name torchvision expects, in the cache."""
    from torchvision import models

    ws = weight_set(name)
    torch.manual_seed(seed)
    state = models.get_model(ws.model, weights=None).state_dict()
    path = cached_file(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def test_the_catalogue_file_is_torchvision_s_own_metadata():
    import json

    assert json.loads(CATALOGUE.read_text(encoding="utf-8")) == json.loads(
        json.dumps(live_catalogue())
    ), "regenerate: python -m app.core.training.pretrained --catalogue"
    sets = for_model("resnet50")
    assert sets[0].default and sets[0].name == "ResNet50_Weights.IMAGENET1K_V2"
    r18 = weight_set(RESNET18)
    assert (r18.acc1, r18.acc5, r18.params) == (69.758, 89.078, 11_689_512)
    assert r18.file == "resnet18-f37072fd.pth" and len(r18.categories) == 1000
    assert (r18.resize, r18.crop, r18.mean) == (256, 224, (0.485, 0.456, 0.406))


def test_a_file_in_the_cache_loads_by_name_with_the_network_blocked(hub):
    state = place(RESNET18, seed=1)
    model = compile_graph(presets.get("resnet18").build())
    loaded = load_pretrained(model, RESNET18)
    assert loaded.reinitialised == () and loaded.loaded == len(state)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_offline_without_the_file_the_message_names_the_file_and_the_folder(hub):
    with pytest.raises(PretrainedError) as err:
        fetch_state(RESNET18)
    text = str(err.value)
    assert "could not download ResNet18_Weights.IMAGENET1K_V1 (44.7 MB)" in text
    assert f"put the file resnet18-f37072fd.pth in {hub}" in text
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in text
    assert not any(hub.glob("*")) if hub.exists() else True  # no half file left


def test_a_replaced_classifier_keeps_its_initialisation_and_is_named(hub):
    state = place(RESNET18)
    graph = presets.get("resnet18").build()
    adapt_to_dataset(graph, (3, 64, 64), 5)
    torch.manual_seed(0)
    model = compile_graph(graph)
    fc_before = model.state_dict()["fc.weight"].clone()
    loaded = load_pretrained(model, RESNET18)
    assert loaded.reinitialised == (("fc", "5×512 here, 1000×512 in the weights"),)
    assert "re-initialised: fc (5×512 here, 1000×512 in the weights)" in loaded.message
    now = model.state_dict()
    assert torch.equal(now["fc.weight"], fc_before)
    assert torch.equal(now["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])


def test_weights_of_another_network_are_refused_with_what_differs(hub):
    place(RESNET18)
    model = compile_graph(presets.get("lenet5").build())
    with pytest.raises(PretrainedError, match=r"ResNet18_Weights\.IMAGENET1K_V1 does not fit"):
        load_pretrained(model, RESNET18)


def test_an_unknown_weight_set_is_a_settings_error_naming_the_model_s_sets():
    with pytest.raises(ConfigError, match=r"pretrained: no pretrained weight set 'ResNet18_Wei"):
        TrainConfig.from_dict({"pretrained": "ResNet18_Weights.V9"})


def test_a_run_from_pretrained_weights_normalises_as_they_did_and_says_what_it_did(hub, tmp_path):
    state = place(RESNET18, seed=2)
    graph = presets.get("resnet18").build()
    adapt_to_dataset(graph, (3, 32, 32), 10)
    config = TrainConfig.from_dict(
        {
            "pretrained": RESNET18,
            "dataset": "shapes",
            "train_size": 64,
            "val_size": 32,
            "batch_size": 32,
            "epochs": 1,
            "lr": 0.01,
        }
    )
    trainer = Trainer(graph, config, runs_root=tmp_path / "runs")
    events = list(trainer.run())
    assert isinstance(events[-1], RunFinished), events[-1]
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.mean == (0.485, 0.456, 0.406) and started.std == (0.229, 0.224, 0.225)
    assert started.notes == (
        f"started from {RESNET18} (120 tensors); re-initialised: fc "
        "(10×512 here, 1000×512 in the weights)",
    )
    log = (tmp_path / "runs").glob("*/run.log")
    assert "re-initialised: fc" in next(log).read_text()
    resumed = Trainer(graph, config.replace(epochs=2), run_dir=started.run_dir)
    cached_file(weight_set(RESNET18)).unlink()  # a resumed run takes its checkpoint's weights
    assert isinstance(list(resumed.run())[-1], RunFinished)
    assert state  # the file was real weights, not an empty dict


def test_folder_images_get_the_weights_resize_and_centre_crop(tmp_path):
    from PIL import Image

    from app.core.training.data import fit_image, load_data

    img = Image.new("RGB", (300, 100), (255, 0, 0))
    img.paste((0, 255, 0), (100, 0, 200, 100))  # a green middle third
    cropped = fit_image(img, (64, 64), 3, resize=73)
    assert cropped.size == (64, 64)
    assert cropped.getcolors() == [(64 * 64, (0, 255, 0))]  # the centre only
    squashed = fit_image(img, (64, 64), 3)
    assert squashed.getpixel((2, 30)) == (255, 0, 0)  # the whole image, squeezed
    for cls in ("a", "b"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(3):
            img.save(tmp_path / "pics" / cls / f"{i}.png")
    config = TrainConfig.from_dict(
        {"dataset": "image_folder", "data_dir": str(tmp_path / "pics"), "workers": 0}
    )
    plain = load_data(config, torch.device("cpu"), (64, 64))
    tuned = load_data(config.replace(pretrained=RESNET18), torch.device("cpu"), (64, 64))
    assert tuned.info.mean == (0.485, 0.456, 0.406)
    x, _ = next(tuned.train.batches(2, shuffle=False))
    assert x.shape == (2, 3, 64, 64) and (x[:, 1] == 255).all() and (x[:, 0] == 0).all()
    y, _ = next(plain.train.batches(2, shuffle=False))
    assert (y[:, 0, :, 2] > 200).all()  # the red third is still there


def test_a_download_reports_its_progress_from_torch_hub_s_partial_file(hub, monkeypatch):
    """torch.hub's own download, with the network replaced by a slow local writer: the
    reports follow the partial file, and the weights end in the cache."""
    import time

    from torchvision import models

    ws = weight_set(RESNET18)
    state = models.resnet18().state_dict()

    def slow_download(url, dst, hash_prefix=None, progress=True):
        assert url == ws.url
        import io
        import os

        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()  # ResNet-18's 45 MB, written a quarter at a time, as it comes
        partial = f"{dst}.0123abcd.partial"
        with open(partial, "wb") as fh:
            for i in range(4):
                fh.write(data[i * len(data) // 4 : (i + 1) * len(data) // 4])
                fh.flush()
                time.sleep(0.15)
        os.replace(partial, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", slow_download)
    reports: list[str] = []
    amounts: list[tuple[float, float]] = []

    def report(text: str, done: float, total: float) -> None:
        reports.append(text)
        amounts.append((done, total))

    fetch_with_progress(RESNET18, report, every_s=0.1)
    assert cached_file(ws).exists()
    assert len(reports) >= 3
    assert reports[0].startswith(f"downloading {RESNET18}: ")
    assert f"of 44.7 MB into {hub}" in reports[-1]
    done = [float(r.split(": ")[1].split(" of")[0]) for r in reports]
    assert done == sorted(done) and max(done) >= 10.0
    assert [a for a, _ in amounts] == pytest.approx(done, abs=0.06) and amounts[0][1] == 44.661
    fetch_with_progress(RESNET18, report)  # cached: nothing to do or say
    assert len(reports) == len(done)


def test_a_failed_download_ends_the_window_s_run_with_the_offline_message(hub, tmp_path):
    from app.core.training.session import RunRequest, _drive

    class Out(list):
        put = list.append

    out = Out()
    graph = presets.get("resnet18").build()
    from app.core.serialization import Project, to_json

    config = TrainConfig.from_dict({"pretrained": RESNET18})
    request = RunRequest.of(to_json(Project(graph)), config, "r", tmp_path / "runs")
    from app.core.training.events import RunControl, RunFailed

    _drive(request, out, RunControl(), evaluate=False)
    failed = [e for e in out if isinstance(e, RunFailed)]
    assert len(failed) == 1 and failed[0].kind == "weights"
    assert f"put the file resnet18-f37072fd.pth in {hub}" in failed[0].message
    assert out[-1] is None and not (tmp_path / "runs").exists()


def test_a_run_s_weights_start_a_network_with_another_classifier(tmp_path):
    """The ``weights`` setting loads as pretrained weights do: a best.pt of a 10-class run
    starts a 4-class network, its classifier re-initialised and named."""
    source = compile_graph(presets.get("lenet5").build())
    torch.save({"model": source.state_dict()}, tmp_path / "best.pt")
    graph = presets.get("lenet5").build()
    adapt_to_dataset(graph, (1, 28, 28), 4)
    from app.core.training.prepared import load_start_weights

    model = compile_graph(graph)
    loaded = load_start_weights(model, str(tmp_path / "best.pt"))
    assert loaded.message == (
        f"started from the weights in {tmp_path / 'best.pt'} (8 tensors); re-initialised: "
        "linear_3 (4×84 here, 10×84 in the weights)"
    )
    state = model.state_dict()
    assert torch.equal(state["conv2d_2.weight"], source.state_dict()["conv2d_2.weight"])


def test_the_cli_says_where_to_put_the_file_when_it_cannot_download(hub, capsys):
    from app.cli import main

    assert main(["train", "presets:resnet18", "--pretrained", RESNET18, "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not download ResNet18_Weights.IMAGENET1K_V1 (44.7 MB)")
    assert f"put the file resnet18-f37072fd.pth in {hub}" in err


def test_googlenet_s_weights_see_the_images_torchvision_s_network_sees(hub):
    """torchvision's GoogLeNet with weights renormalises its input itself (transform_input);
    the preset gets the same numbers from the weights' preprocessing instead: its logits on
    an image equal torchvision's on the same image."""
    from torchvision import models

    ws = weight_set("GoogLeNet_Weights.IMAGENET1K_V1")
    assert ws.mean == (0.5, 0.5, 0.5) and ws.std == (0.5, 0.5, 0.5)
    torch.manual_seed(3)
    reference = models.googlenet(aux_logits=True, init_weights=True)  # as published
    cached_file(ws).parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached_file(ws))
    theirs = models.googlenet(weights=ws.name).eval()  # from the cache, transform_input on
    ours = compile_graph(presets.get("googlenet").build()).eval()
    load_pretrained(ours, ws.name)
    image = torch.rand(2, 3, 224, 224)
    imagenet = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    spread = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = theirs((image - imagenet) / spread)
        got = ours((image - 0.5) / 0.5)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
