"""Opaque modules: what no block computes is kept whole (torchvision's StochasticDepth in
EfficientNet), with its weights and the arguments it was built with; it checks, trains and
exports; and a project file cannot use the opaque block to run other code."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
import torch
import torchvision

from app.core.compiler import compile_graph
from app.core.export.model_code import export_model_code
from app.core.graph import Graph
from app.core.imports.fx_map import import_model
from app.core.serialization import load
from app.core.shapes import check
from tests.imports.test_user_models import FILE, run_cli


def test_efficientnet_keeps_its_stochastic_depth_whole_and_computes_the_same():
    model = torchvision.models.get_model("efficientnet_b0", weights=None)
    result = import_model(model, (3, 224, 224))
    assert result.opaque == {"StochasticDepth": 9}
    assert result.max_abs_diff <= 1e-5
    graph = result.graph
    node = graph.nodes["features_2_1_stochastic_depth"]
    assert node.path == "features.2.1.stochastic_depth"
    assert node.params["target"] == "torchvision.ops.stochastic_depth.StochasticDepth"
    assert json.loads(node.params["arguments"]) == {"kwargs": {"p": 0.025, "mode": "row"}}
    # its shapes are the full-size input's (measured on the meta device), not the probe's
    assert (node.params["in_shape"], node.params["out_shape"]) == ((24, 56, 56), (24, 56, 56))
    report = check(graph)
    assert report.ok and report.total_params == sum(p.numel() for p in model.parameters())
    assert set(result.state) == set(model.state_dict())
    # the exported file imports the class, says so, and computes the same
    code = export_model_code(graph, "EffNet", report)
    line = (
        "from torchvision.ops.stochastic_depth import StochasticDepth"
        "  # kept whole (opaque): a torchvision class"
    )
    assert line in code.splitlines()
    namespace: dict = {}
    exec(compile(code, "effnet.py", "exec"), namespace)
    exported = namespace["EffNet"]().eval()
    exported.load_state_dict(result.state, strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model.eval()(x), rtol=0, atol=1e-5)


def test_a_user_model_with_an_opaque_part_imports_trains_exports_and_imports_again(
    tmp_path, capsys
):
    net = tmp_path / "net.json"
    code, out, err = run_cli(
        capsys, "import", f"{FILE}:DropPathNet", "-o", str(net), "--input", "3,16,16"
    )
    assert code == 0, err
    assert "9 nodes, 8 onto NetBuilder blocks, 1 opaque (kept whole: StochasticDepth ×1)" in out
    project = load(net)
    assert project.graph.nodes["drop"].type_id == "opaque"
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "train", str(net), "--dataset", "shapes", "--epochs", "1", "--train-size",
        "128", "--val-size", "32", "--batch-size", "32", "--runs", str(runs),
    )  # fmt: skip
    assert code == 0, err
    (run,) = runs.iterdir()
    assert (run / "checkpoints" / "best.pt").exists()
    code_file = tmp_path / "model.py"
    code, out, err = run_cli(capsys, "export", str(net), "-o", str(code_file))
    assert code == 0, err
    smoke = subprocess.run(
        [sys.executable, str(code_file)], capture_output=True, text=True, timeout=120
    )
    assert smoke.returncode == 0, smoke.stderr
    again = tmp_path / "again.json"
    code, out, err = run_cli(
        capsys, "import", str(code_file), "-o", str(again), "--input", "3,16,16", "--weights",
        str(tmp_path / "net.pt"),
    )  # fmt: skip
    assert code == 0, err
    assert load(again).graph == project.graph


def opaque_graph(**params) -> Graph:
    g = Graph()
    x = g.add_node("input", {"channels": 3, "height": 4, "width": 4}).id
    o = g.add_node("opaque", {"in_shape": [3, 4, 4], "out_shape": [3, 4, 4], **params}).id
    g.connect(x, o)
    g.connect(o, g.add_node("output", {}).id)
    return g


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("os.system", "'os.system' is not a class of torch or torchvision"),
        ("subprocess.Popen", "'subprocess.Popen' is not a class of torch or torchvision"),
        ("torch.__builtins__.eval", "is not a class of torch or torchvision"),
    ],
)
def test_a_project_cannot_name_code_outside_torch(target, message, monkeypatch):
    imported: list[str] = []
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda n, *a: imported.append(n) or real(n))
    report = check(opaque_graph(target=target))
    assert not report.ok and message in report.errors[0].message
    assert imported == []


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("torch.nn.functional.relu", "torch.nn.functional.relu is not an nn.Module class"),
        ("torch.nn.NoSuchLayer", "torch.nn.NoSuchLayer does not exist in this PyTorch"),
    ],
)
def test_a_target_that_is_no_module_class_is_refused_when_built(target, message):
    graph = opaque_graph(target=target)
    assert check(graph).ok  # the window's shape pass does not import torch
    with pytest.raises(Exception, match=message):
        compile_graph(graph)


def test_another_input_size_says_the_shape_is_known_only_for_the_imported_one():
    graph = opaque_graph()
    graph.set_params("input_1", {"height": 8})
    (error,) = check(graph).errors
    assert "Identity was imported for a 3×4×4 input, got 3×8×4" in error.message
