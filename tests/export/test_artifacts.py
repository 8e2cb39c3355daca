"""ONNX, TorchScript, torch.export programs, weights and run bundles, via the API and the CLI."""

from __future__ import annotations

import json
import zipfile

import onnx
import pytest
import torch
from torch import nn

import presets
from app.cli import main
from app.core.compiler import compile_graph
from app.core.export import artifacts
from app.core.export.model_code import ExportError
from blocks import REGISTRY
from tests.helpers import chain, image


# one network per kind of block: residual blocks (ResNet-18, with the ImageNet stem's padded
# max-pool) and Fire modules (SqueezeNet 1.1, with ceil-mode pooling); their CIFAR versions
# export the same blocks
@pytest.mark.parametrize("name", ["lenet5", "resnet18", "squeezenet1_1"])
def test_onnx_passes_the_checker_and_matches_onnxruntime(tmp_path, name):
    result = artifacts.export_onnx(presets.get(name).build(), tmp_path / "m.onnx")
    onnx.checker.check_model(str(tmp_path / "m.onnx"))
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x = torch.randn(5, *artifacts.check(presets.get(name).build()).nodes["input_1"].shape)
    (out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert out.shape[0] == 5  # dynamic batch size


@pytest.mark.parametrize("export", [artifacts.export_torchscript, artifacts.export_program])
def test_torchscript_and_program_reload_with_the_same_outputs(tmp_path, export):
    result = export(presets.get("resnet18_cifar").build(), tmp_path / "m.bin")
    assert result.max_abs_diff == pytest.approx(0.0, abs=1e-5)


def test_weights_move_between_the_app_and_the_exported_code(tmp_path):
    graph = presets.get("lenet5").build()
    torch.manual_seed(3)
    trained = compile_graph(graph)
    torch.save({"model": trained.state_dict(), "epoch": 4}, tmp_path / "ckpt.pt")
    weights = artifacts.load_weights(tmp_path / "ckpt.pt")
    artifacts.export_weights(graph, tmp_path / "w.pt", weights)
    state = torch.load(tmp_path / "w.pt")
    assert set(state) == set(trained.state_dict())
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(state[key], value)


def test_bundle_holds_everything_to_reproduce_a_run(tmp_path, capsys):
    args = ["--dataset", "shapes_gray", "--train-size", "256", "--val-size", "64"]
    assert (
        main(
            [
                "train",
                "presets:lenet5",
                *args,
                "--epochs",
                "1",
                "--seed",
                "7",
                "--runs",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    (run,) = (tmp_path / "runs").iterdir()
    assert (
        main(
            [
                "export",
                "presets:lenet5",
                "--format",
                "bundle",
                "-o",
                str(tmp_path / "b.zip"),
                "--run",
                str(run),
            ]
        )
        == 0
    )
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        names = set(archive.namelist())
        assert {
            "project.json",
            "model.py",
            "config.json",
            "versions.json",
            "README.txt",
            "metrics/epochs.csv",
            "metrics/metrics.jsonl",
            "weights/best.pt",
        } <= names
        assert json.loads(archive.read("config.json"))["seed"] == 7
        assert json.loads(archive.read("versions.json"))["torch"] == torch.__version__
        archive.extract("weights/best.pt", tmp_path)
    state = torch.load(tmp_path / "weights" / "best.pt")
    compile_graph(presets.get("lenet5").build()).load_state_dict(state, strict=True)


def test_cli_export_formats(tmp_path, capsys):
    for fmt, out in (
        ("py", "m.py"),
        ("onnx", "m.onnx"),
        ("torchscript", "m.ts"),
        ("program", "m.pt2"),
        ("weights", "w.pt"),
        ("train", "script"),
    ):
        assert (
            main(["export", "presets:lenet5", "--format", fmt, "-o", str(tmp_path / out)]) == 0
        ), fmt
        assert (tmp_path / out).exists()
    out = capsys.readouterr().out
    assert "checked (max difference from PyTorch" in out
    assert (tmp_path / "script" / "train.py").exists()


def test_unexportable_block_is_named(tmp_path, monkeypatch):
    class DataDependent(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x  # control flow on data: torch.export refuses

    relu = REGISTRY.get("relu")
    monkeypatch.setattr(type(relu), "build", lambda self, params, inputs: DataDependent())
    graph = chain(image(1, 8, 8), ("conv2d", {"out_channels": 2}), ("relu", {}))
    with pytest.raises(ExportError, match=r"torch.export failed at relu_1 \(ReLU\)"):
        artifacts.export_program(graph, tmp_path / "m.pt2")
    with pytest.raises(ExportError, match=r"ONNX export failed at relu_1 \(ReLU\)"):
        artifacts.export_onnx(graph, tmp_path / "m.onnx")


def test_broken_graphs_and_bad_weights_give_clear_errors(tmp_path, capsys):
    broken = chain(image(1, 4, 4), ("conv2d", {"kernel_h": 9, "kernel_w": 9}))
    for export in (
        artifacts.export_onnx,
        artifacts.export_torchscript,
        artifacts.export_program,
        artifacts.export_weights,
    ):
        with pytest.raises(ExportError, match="the network has errors"):
            export(broken, tmp_path / "x")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    assert (
        main(
            [
                "export",
                "presets:lenet5",
                "--format",
                "weights",
                "-o",
                str(tmp_path / "w.pt"),
                "--checkpoint",
                str(tmp_path / "junk.pt"),
            ]
        )
        == 1
    )
    assert "is not a PyTorch weights file" in capsys.readouterr().err
    torch.save(compile_graph(presets.get("lenet5").build()).state_dict(), tmp_path / "l.pt")
    assert (
        main(
            [
                "export",
                "presets:mlp",
                "--format",
                "onnx",
                "-o",
                str(tmp_path / "m.onnx"),
                "--checkpoint",
                str(tmp_path / "l.pt"),
            ]
        )
        == 1
    )
    assert "the weights do not fit this network: " in capsys.readouterr().err
