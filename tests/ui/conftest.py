"""GUI tests never touch the user's settings or autosave folder."""

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def isolated_user_state(tmp_path, monkeypatch):
    monkeypatch.setenv("NETBUILDER_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    QSettings.setPath(
        QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings")
    )
    QSettings("NetBuilder", "NetBuilder").clear()
