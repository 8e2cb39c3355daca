"""Exported model code: standalone, lint-clean, and the same network as the compiled graph."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import presets
from app.core.compiler import compile_graph
from app.core.export.model_code import ExportError, class_name, export_model_code
from app.core.graph import Graph
from app.core.shapes import check
from tests.core.test_compiler import graph_with_paths, hand_built_resnet18_cifar
from tests.helpers import chain, image

NAMES = presets.names()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exported")
    for name in NAMES:
        p = presets.get(name)
        (folder / f"{name}.py").write_text(export_model_code(p.build(), p.title))
    (folder / "drawn_resnet18.py").write_text(
        export_model_code(hand_built_resnet18_cifar(), "drawn resnet18")
    )
    (folder / "with_paths.py").write_text(export_model_code(graph_with_paths(), "with paths"))
    return folder


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ruff() -> str:
    exe = Path(sys.executable).parent / "ruff"
    return str(exe) if exe.exists() else shutil.which("ruff") or "ruff"


def test_exported_files_pass_ruff_with_default_settings(exported):
    lint = subprocess.run(
        [ruff(), "check", "--isolated", str(exported)], capture_output=True, text=True, timeout=120
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [ruff(), "format", "--isolated", "--check", str(exported)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fmt.returncode == 0, fmt.stdout


def covering_presets() -> list[str]:
    """The cheapest presets whose exported files, together, hold every block type and every
    configuration of a block any preset uses (its parameters): running these proves what
    running all would, without ResNet-152's or VGG-19's forward pass at 224×224."""

    def kinds(name: str) -> set:
        graph = presets.get(name).build()
        return {(n.type_id, tuple(sorted(n.params))) for n in graph.nodes.values()}

    cost = {n: sum(i.macs for i in check(presets.get(n).build()).nodes.values()) for n in NAMES}
    needed = set().union(*(kinds(n) for n in NAMES))
    chosen = []
    for name in sorted(NAMES, key=cost.__getitem__):
        new = kinds(name) & needed
        if new:
            chosen.append(name)
            needed -= new
    return chosen


def test_exported_files_run_in_an_isolated_interpreter(exported):
    """A fresh interpreter in which the project's packages cannot be imported (the editable
    install would otherwise provide them): each file's smoke run prints its output shape.
    The presets that hold every kind of block (each exported file's code is made of its
    blocks' classes), and the drawn graphs."""
    names = [*covering_presets(), *DRAWN]
    script = (
        "import runpy, sys, io, contextlib\n"
        "for name in ('app', 'blocks', 'presets'):\n"
        "    sys.modules[name] = None  # any import of them now raises ImportError\n"
        f"for stem in {names!r}:\n"
        f"    path = __import__('pathlib').Path({str(exported)!r}) / f'{{stem}}.py'\n"
        "    buf = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        runpy.run_path(str(path), run_name='__main__')\n"
        "    print(path.stem, buf.getvalue().strip())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=exported,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert set(printed) == set(names) and "resnet152" not in printed
    for name in covering_presets():
        out = check(presets.get(name).build()).output_shape
        assert printed[name] == str((2, *out))


DRAWN = {
    "drawn_resnet18": (hand_built_resnet18_cifar, "drawn resnet18"),
    "with_paths": (graph_with_paths, "with paths"),
}


@pytest.mark.parametrize("name", [*NAMES, *DRAWN])
def test_exported_model_equals_compiled_model(exported, name):
    graph = DRAWN[name][0]() if name in DRAWN else presets.get(name).build()
    report = check(graph)
    torch.manual_seed(0)
    compiled = compile_graph(graph, report).eval()
    module = load(exported / f"{name}.py")
    title = DRAWN[name][1] if name in DRAWN else presets.get(name).title
    with torch.device("meta"):  # built without initialising: the weights are loaded next
        model = getattr(module, class_name(title))().eval()
    assert list(model.state_dict()) == list(compiled.state_dict())  # same keys, same order
    model.load_state_dict(compiled.state_dict(), strict=True, assign=True)
    shape = report.nodes[report.input_id].shape
    if shape[-1] == 224:  # ImageNet presets: adaptive pooling allows a smaller, faster check
        shape = (3, 64, 64)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(model(x), compiled(x))


def test_branches_and_merges_read_like_hand_written_code():
    code = export_model_code(hand_built_resnet18_cifar(), "drawn")
    forward = code[code.index("def forward") :]
    assert "        out = self.conv2d_2(x)\n        out = self.batchnorm2d_2(out)\n" in forward
    assert "        x = out + x\n" in forward
    g = chain(image(2, 8, 8), ("conv2d", {"out_channels": 3, "padding": 1}))
    g.add_node("concat")
    g.connect("conv2d_1", "concat_1")
    g.connect("input_1", "concat_1")
    g.add_node("multiply")
    g.connect("concat_1", "multiply_1")
    g.connect("concat_1", "multiply_1")
    code = export_model_code(g, "gated")
    assert "out = torch.cat([out, x], dim=1)" in code or "x = torch.cat([out, x], dim=1)" in code
    assert " * " in code


def test_errors_are_refused_with_the_reason():
    broken = chain(image(1, 4, 4), ("conv2d", {"kernel_h": 9, "kernel_w": 9}))
    with pytest.raises(ExportError, match=r"1 error\(s\): conv2d_1 \(Conv2d\): H: kernel 9"):
        export_model_code(broken)


def test_class_names():
    assert class_name("LeNet-5") == "LeNet5"
    assert class_name("resnet18_cifar") == "Resnet18Cifar"
    assert class_name("") == "Net" and class_name("3d net") == "Net3dNet"


def test_module_paths_export_as_nested_sequentials_and_module_dicts():
    code = export_model_code(graph_with_paths(), "with paths")
    init = code[code.index("def __init__") : code.index("def forward")]
    forward = code[code.index("def forward") :]
    assert "self.features = nn.Sequential(" in init  # numbered from 0
    assert "self.layer1 = nn.Sequential(" in init and "nn.ModuleDict(" in init
    assert '"3": nn.ModuleDict(' in init  # numbered from 3: not a Sequential
    assert "x = self.features(x)" in forward  # a chain: the Sequential is called once
    assert 'self.layer1[0]["conv1"](x)' in forward
    assert 'self.extra["3"]["proj"](' in forward


def test_a_stage_is_called_once_only_when_its_modules_form_a_chain():
    """torchvision's ``x = self.layer1(x)``; a stage whose inner value is used elsewhere (or
    whose modules are not run in their numbered order) is called member by member."""
    forward = export_model_code(presets.get("resnet50").build(), "Net").split("def forward")[-1]
    assert "x = self.layer3(x)" in forward and "layer3[" not in forward
    g = Graph()
    x = g.add_node("input", {"channels": 3, "height": 8, "width": 8}).id
    a = g.add_node("conv2d", {"out_channels": 3, "padding": 1}, path="stage.0").id
    b = g.add_node("relu", {}, path="stage.1").id
    s = g.add_node("add", {}).id
    out = g.add_node("output", {}).id
    g.connect(x, a)
    g.connect(a, b)
    g.connect(b, s, 0)
    g.connect(a, s, 1)  # the conv's output is used past the relu
    g.connect(s, out)
    code = export_model_code(g, "Net")
    assert "self.stage(" not in code.split("def forward")[-1]
    assert "self.stage[0](x)" in code and "self.stage[1](" in code
    ns: dict = {}
    exec(compile(code, "net.py", "exec"), ns)
    model = ns["Net"]().eval()
    compiled = compile_graph(g, check(g)).eval()
    model.load_state_dict(compiled.state_dict())
    inp = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model(inp), compiled(inp))


def test_exports_carry_only_the_classes_and_options_they_use():
    """A plain ResNet's file has no squeeze-excitation class or option; an SE-ResNet's has
    the gated block, the gate and the block it extends."""
    plain = export_model_code(presets.get("resnet18").build(), "ResNet-18")
    assert "SqueezeExcite" not in plain and "se_channels" not in plain
    assert "class ResidualBlock(nn.Module):" in plain
    gated = export_model_code(presets.get("se_resnet18_cifar").build(), "SE-ResNet-18")
    for definition in ("class SqueezeExcite(", "class ResidualBlock(", "class SEResidualBlock("):
        assert definition in gated
    assert "SEResidualBlock(64, 64, se_channels=4)" in gated
