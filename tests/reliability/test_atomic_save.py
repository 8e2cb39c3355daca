"""A save interrupted at any point (each system call of it failing, or Ctrl+C arriving there)
leaves the previous file intact and no temporary file behind."""

from __future__ import annotations

import os

import pytest

from app.core import serialization
from app.core.serialization import Project, load, save
from tests.helpers import chain, image

POINTS = ["mkstemp", "fdopen", "fsync", "replace"]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_an_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch, point, fault):
    path = tmp_path / "net.json"
    old = Project(chain(image(), ("conv2d", {})), "old")
    save(old, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise fault

    target = serialization.tempfile if point == "mkstemp" else serialization.os
    monkeypatch.setattr(target, point, broken)
    with pytest.raises(type(fault)):
        save(Project(chain(image(), ("conv2d", {}), ("relu", {})), "new"), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and load(path).name == "old"
    assert sorted(os.listdir(tmp_path)) == ["net.json"]
