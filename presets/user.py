"""User presets: a user's own designs saved as project files in their config directory and
listed beside the built-in presets."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from app.core.graph import Graph
from app.core.serialization import Project, ProjectFileError, load, save
from app.core.shapes import check
from blocks import shape_text
from presets.registry import Preset, is_builtin

#: environment variable overriding the folder (tests, portable installs)
ENV_DIR = "NETBUILDER_PRESET_DIR"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class UserPresetError(ValueError):
    """A user preset cannot be saved or read; the message says why."""


def user_preset_dir() -> Path:
    """``$NETBUILDER_PRESET_DIR``, else ``<user config dir>/NetBuilder/presets``."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    import platformdirs

    return Path(platformdirs.user_config_dir("NetBuilder", appauthor=False)) / "presets"


def save_user_preset(project: Project, name: str) -> Path:
    """Save ``project`` as user preset ``name`` (lower-case letters, digits, _)."""
    if not _NAME.match(name):
        raise UserPresetError(
            f"preset name {name!r}: use lower-case letters, digits and _, starting with a letter"
        )
    if is_builtin(name):
        raise UserPresetError(f"{name!r} is a built-in preset: choose another name")
    report = check(project.graph)
    if not report.ok:
        raise UserPresetError(
            f"the design has {len(report.errors)} error(s); fix them before saving it as a "
            f"preset (first: {report.errors[0].message})"
        )
    folder = user_preset_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    save(project, path)
    return path


def _loader(path: Path) -> Callable[[], Graph]:
    def build() -> Graph:
        return load(path).graph

    return build


def user_presets() -> tuple[list[Preset], list[str]]:
    """(readable user presets, problems with unreadable files). Never raises for bad files."""
    folder = user_preset_dir()
    found: list[Preset] = []
    problems: list[str] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.json")):
        name = path.stem
        if not _NAME.match(name) or is_builtin(name):
            problems.append(f"{path}: ignored (name clashes with a built-in or is invalid)")
            continue
        try:
            project = load(path)
        except ProjectFileError as exc:
            problems.append(str(exc))
            continue
        report = check(project.graph)
        shape = report.nodes[report.input_id].shape if report.input_id else None
        found.append(
            Preset(
                name,
                project.name or name,
                project.description or "Your own design.",
                shape_text(shape) if shape else "?",
                ("user",),
                _loader(path),
                training=project.training,
            )
        )
    return found, problems
