"""Export artifacts beyond source code: weights, ONNX, TorchScript, ``torch.export`` programs
and a one-file run bundle. Each export checks its result (reload and compare outputs) and
fails with a message that names the block that could not be exported."""

from __future__ import annotations

import io
import json
import platform
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from app import __version__
from app.core.compiler import compile_graph, node_modules, weights_mismatch
from app.core.export.model_code import ExportError, class_name, export_model_code
from app.core.graph import Graph
from app.core.serialization import Project, to_json
from app.core.shapes import ShapeReport, check
from app.core.torch_files import WeightsFileError, load_tensors


def build_model(
    graph: Graph, weights: Mapping[str, torch.Tensor] | None = None
) -> tuple[nn.Module, ShapeReport]:
    """The compiled model in eval mode, with ``weights`` (a state dict or checkpoint) loaded."""
    report = check(graph)
    if not report.ok:
        raise ExportError(
            "the network has errors: " + "; ".join(p.message for p in report.errors[:3])
        )
    model = compile_graph(graph, report)
    if weights is not None:
        state = weights.get("model", weights)  # a NetBuilder checkpoint or a bare state dict
        problem = weights_mismatch(model, state)  # type: ignore[arg-type]
        if problem:
            raise ExportError(f"the weights do not fit this network: {problem}")
        model.load_state_dict(state, strict=True)  # type: ignore[arg-type]
    return model.eval(), report


def load_weights(path: str | Path) -> Mapping[str, torch.Tensor]:
    """A state dict or NetBuilder checkpoint, loaded without running code from the file."""
    try:
        data = load_tensors(path)
    except WeightsFileError as exc:
        raise ExportError(str(exc)) from None
    if not isinstance(data, Mapping):
        raise ExportError(f"{path} holds a {type(data).__name__}, not a state dict")
    return data


def example_input(report: ShapeReport, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(batch, *report.nodes[report.input_id].shape)  # type: ignore[index,misc]


def export_weights(graph: Graph, path: Path, weights: Mapping | None = None) -> None:
    """A plain ``state_dict`` file (keys = node names, loadable into the exported code)."""
    model, _ = build_model(graph, weights)
    torch.save(model.state_dict(), path)


def _culprit(
    model: nn.Module,
    report: ShapeReport,
    graph: Graph,
    attempt: Callable[[nn.Module, tuple[torch.Tensor, ...]], object],
) -> str:
    """Export each node's module alone to find the first one that fails."""
    modules = node_modules(model)
    for nid in report.order:
        if nid not in modules:
            continue
        inputs = tuple(torch.randn(1, *s) for s in report.nodes[nid].inputs)
        try:
            attempt(modules[nid], inputs)
        except Exception as exc:  # the format's own error, reported with the block's name
            title = graph.registry.get(graph.nodes[nid].type_id).title
            return f"{nid} ({title}): {str(exc).splitlines()[0][:300]}"
    return ""


@dataclass(frozen=True)
class CheckedExport:
    path: Path
    max_abs_diff: float | None  # vs the PyTorch model, when a runtime was available to compare
    note: str = ""


def export_onnx(
    graph: Graph, path: Path, weights: Mapping | None = None, opset: int = 18
) -> CheckedExport:
    """ONNX (dynamo exporter, dynamic batch), checked with onnx.checker and compared with
    onnxruntime when it is installed."""
    import onnx

    model, report = build_model(graph, weights)
    x = example_input(report)

    def attempt(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> object:
        return torch.onnx.export(module, inputs, dynamo=True, opset_version=opset, verbose=False)

    try:
        program = torch.onnx.export(
            model,
            (x,),
            dynamo=True,
            opset_version=opset,
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            verbose=False,
        )
        program.save(str(path))
    except Exception as exc:
        where = _culprit(model, report, graph, attempt)
        raise ExportError(
            "ONNX export failed" + (f" at {where}" if where else f": {str(exc).splitlines()[0]}")
        ) from None
    onnx.checker.check_model(str(path), full_check=True)
    try:
        import onnxruntime
    except ImportError:
        return CheckedExport(path, None, "onnxruntime is not installed: outputs not compared")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
    with torch.no_grad():
        expected = model(x)
    diff = (got - expected).abs().max().item()
    if not torch.allclose(got, expected, rtol=1e-3, atol=1e-4):
        raise ExportError(f"ONNX outputs differ from PyTorch by up to {diff:.3g}")
    return CheckedExport(path, diff)


def export_torchscript(graph: Graph, path: Path, weights: Mapping | None = None) -> CheckedExport:
    """TorchScript: ``torch.jit.script`` when the model scripts, else ``torch.jit.trace``;
    reloaded and compared."""
    model, report = build_model(graph, weights)
    x = example_input(report)
    with warnings.catch_warnings():  # TorchScript is deprecated upstream; torch.export is next
        warnings.simplefilter("ignore")
        return _torchscript(model, report, graph, x, path)


def _torchscript(
    model: nn.Module, report: ShapeReport, graph: Graph, x: torch.Tensor, path: Path
) -> CheckedExport:
    note = "scripted"
    try:
        scripted = torch.jit.script(model)
    except Exception:
        note = "traced (the model does not script)"
        try:
            scripted = torch.jit.trace(model, (x,), check_trace=False)
        except Exception as exc:
            where = _culprit(
                model,
                report,
                graph,
                lambda m, inputs: torch.jit.trace(m, inputs, check_trace=False),
            )
            raise ExportError(
                "TorchScript export failed"
                + (f" at {where}" if where else f": {str(exc).splitlines()[0]}")
            ) from None
    scripted.save(str(path))
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        diff = (loaded(x) - model(x)).abs().max().item()
    return CheckedExport(path, diff, note)


def export_program(graph: Graph, path: Path, weights: Mapping | None = None) -> CheckedExport:
    """A ``torch.export`` program (``.pt2``) with a dynamic batch size; reloaded and compared."""
    model, report = build_model(graph, weights)
    x = example_input(report)
    try:
        program = torch.export.export(
            model, (x,), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
        )
    except Exception as exc:
        where = _culprit(model, report, graph, lambda m, inputs: torch.export.export(m, inputs))
        raise ExportError(
            "torch.export failed" + (f" at {where}" if where else f": {str(exc).splitlines()[0]}")
        ) from None
    torch.export.save(program, str(path))
    loaded = torch.export.load(str(path)).module()
    with torch.no_grad():
        diff = (loaded(x) - model(x)).abs().max().item()
    return CheckedExport(path, diff)


def versions() -> dict[str, str]:
    import torchvision

    return {
        "netbuilder": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "platform": platform.platform(),
    }


def export_bundle(project: Project, path: Path, run_dir: Path | None = None) -> list[str]:
    """One zip with everything needed to reproduce a run elsewhere: the project, the exported
    code, the training config (with its seed), package versions and, from a run directory,
    its metrics and best weights. Returns the archive's file names."""
    files: dict[str, bytes] = {
        "project.json": to_json(project).encode(),
        "model.py": export_model_code(project.graph, project.name or "Net").encode(),
        "versions.json": (json.dumps(versions(), indent=2) + "\n").encode(),
    }
    config: dict[str, Any] = dict(project.training)
    if run_dir is not None:
        from app.core.training.rundir import RunDir

        run = RunDir(Path(run_dir), create=False)
        saved = run.config()
        if saved is None:
            raise ExportError(f"{run_dir} is not a NetBuilder run directory (no config.json)")
        config = saved
        for name in RunDir.METRIC_FILES:
            if (run.path / name).exists():
                files[f"metrics/{name}"] = (run.path / name).read_bytes()
        if run.has_checkpoint("best"):
            buffer = io.BytesIO()
            best = load_weights(run.checkpoint_path("best"))["model"]  # type: ignore[index]
            torch.save(best, buffer)
            files["weights/best.pt"] = buffer.getvalue()
    files["config.json"] = (json.dumps(config, indent=2) + "\n").encode()
    cls = class_name(project.name or "Net")
    files["README.txt"] = (
        f"NetBuilder run bundle for {project.name or 'a network'}.\n\n"
        "project.json   the graph (open it in NetBuilder)\n"
        f"model.py       standalone PyTorch code: from model import {cls}\n"
        "config.json    the training settings (seed included)\n"
        "versions.json  package versions used\n"
        "metrics/       the run's metrics (if exported from a run)\n"
        "weights/       best weights: model.load_state_dict(torch.load('weights/best.pt'))\n"
    ).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return list(files)
