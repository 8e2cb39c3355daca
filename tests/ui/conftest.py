"""GUI tests never touch the user's settings or autosave folder."""

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NETBUILDER_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    # no device calibration (outside tmp_path: tests list what they write there)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings")
    )
    QSettings("NetBuilder", "NetBuilder").clear()


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Training runs started by GUI tests go to a temporary folder."""
    monkeypatch.setenv("NETBUILDER_RUNS_DIR", str(tmp_path / "runs"))
