"""Work the GUI hands to a separate process, so the window never waits for torch to import
(about 1.3 s here) or for a large file to be written. Each job takes and returns plain,
picklable values and imports what it needs inside the worker process."""

from __future__ import annotations

from pathlib import Path


def export_run(kind: str, project_json: str, path: str, run_dir: str | None) -> str:
    """Export a trained run: ``weights`` (its best checkpoint as a state dict keyed like the
    exported code), ``code`` (the model as a .py file) or ``bundle`` (zip with project, code,
    config, metrics and best weights). Returns the written path; raises with a reason."""
    from app.core.export import artifacts
    from app.core.export.model_code import export_model_code
    from app.core.serialization import loads
    from app.core.training.rundir import RunDir

    project = loads(project_json)
    target = Path(path)
    if kind == "weights":
        run = RunDir(Path(run_dir), create=False) if run_dir else None
        if run is None or not run.has_checkpoint("best"):
            raise FileNotFoundError("this run saved no best checkpoint")
        state = artifacts.load_weights(run.checkpoint_path("best"))["model"]  # type: ignore[index]
        artifacts.export_weights(project.graph, target, state)
    elif kind == "code":
        target.write_text(export_model_code(project.graph, project.name or "Net"))
    elif kind == "bundle":
        artifacts.export_bundle(project, target, Path(run_dir) if run_dir else None)
    else:
        raise ValueError(f"unknown export kind {kind!r}")
    return str(target)
