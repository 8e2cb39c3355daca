"""The file dialogs as a user meets them where the desktop has none of its own (a bare X11
server, or offscreen): Qt's own dialog, whose file list cut its columns ("344…tes")."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QTreeView

from app.ui import file_names


def _listed(box: QFileDialog, view: QTreeView, name: str) -> bool:
    model = view.model()
    root = view.rootIndex()
    return any(model.index(r, 0, root).data() == name for r in range(model.rowCount(root)))


def test_the_file_list_shows_whole_sizes_and_dates(qtbot, tmp_path):
    (tmp_path / "a_rather_long_project_name_for_the_list.json").write_bytes(b"x" * 344)
    (tmp_path / "big_weights.pt").write_bytes(b"x" * 3_400_000)
    box = file_names.dialog(None, "Save project", str(tmp_path / "LeNet-5.json"), "*", save=True)
    qtbot.addWidget(box)
    box.setViewMode(QFileDialog.ViewMode.Detail)
    box.show()
    qtbot.waitExposed(box)
    view = next(v for v in box.findChildren(QTreeView) if v.isVisible())
    qtbot.waitUntil(lambda: _listed(box, view, "big_weights.pt"), timeout=10_000)
    qtbot.wait(100)
    header = view.header()
    for column in (1, 2, 3):  # size, kind, date modified
        needed = max(view.sizeHintForColumn(column), header.sectionSizeHint(column))
        assert header.sectionSize(column) >= needed, (column, header.sectionSize(column), needed)
    assert box.width() >= 820
    # the suggested name is in the name field
    assert any(e.text() == "LeNet-5.json" for e in box.findChildren(QLineEdit))


def test_ask_save_returns_the_chosen_path_and_remembers_its_folder(qtbot, tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    chosen: list[str] = []

    def accept() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QFileDialog)
        name = box.findChild(QLineEdit, "fileNameEdit")
        assert name.text() == "net.py"
        qtbot.keyClick(name, Qt.Key.Key_Return)

    QTimer.singleShot(300, accept)
    chosen.append(file_names.ask_save(None, "Export code", str(folder / "net.py"), "*.py"))
    assert chosen == [str(folder / "net.py")]
    assert file_names.last_folder() == folder

    QTimer.singleShot(300, lambda: QApplication.activeModalWidget().reject())
    assert file_names.ask_open(None, "Open project", "*.json") == ""
