"""GUI tests never touch the user's settings or autosave folder."""

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(scope="session")
def user_cache(tmp_path_factory):
    """One cache folder for the GUI tests: no device calibration of the user's, and the
    font caches (fontconfig, matplotlib) built once, not once a test."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path, user_cache, monkeypatch):
    monkeypatch.setenv("NETBUILDER_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache))
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings")
    )
    QSettings("NetBuilder", "NetBuilder").clear()


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path, monkeypatch):
    """Training runs started by GUI tests go to a temporary folder."""
    monkeypatch.setenv("NETBUILDER_RUNS_DIR", str(tmp_path / "runs"))
