"""The desktop window driven through its real widgets, offscreen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QMessageBox, QSpinBox

import presets
from app.core.serialization import Project, to_json
from app.ui.app import default_document
from app.ui.document import Document
from app.ui.main_window import MainWindow
from app.ui.panels import BLOCK_MIME
from tests.ui.helpers import open_window


@pytest.fixture
def window(qtbot):
    p = presets.get("lenet5")
    win = MainWindow(Document(Project(p.build(), p.title)))
    win.confirm_discard = lambda: True  # no modal dialogs in tests
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


def snapshot(win: MainWindow) -> str:
    return to_json(win.document.project)


def problem_texts(win: MainWindow) -> list[str]:
    return [win.problems.item(i).text() for i in range(win.problems.count())]


def port_pos(win: MainWindow, node_id: str, kind: str, index: int = 0) -> QPoint:
    item = win.scene.node_items[node_id]
    local = item.output_port() if kind == "out" else item.input_port(index)
    return win.view.mapFromScene(item.mapToScene(local))


def test_opens_with_a_working_network(window):
    assert window.windowTitle() == "LeNet-5 — NetBuilder"
    assert len(window.scene.node_items) == 14 and len(window.scene.edge_items) == 13
    (lint,) = problem_texts(window)  # LeNet-5's one design lint, and no errors
    assert lint.startswith("linear layers hold 96% of the 61,706 parameters")
    edge_labels = {e.label for e in window.scene.edge_items.values()}
    assert {"1×28×28", "6×28×28", "16×5×5", "400", "10"} <= edge_labels


def test_palette_search_double_click_and_drop(window, qtbot):
    window.palette_panel.search.setText("batchnorm")
    tree = window.palette_panel.tree
    visible = [
        tree.topLevelItem(i).child(j).text(0)
        for i in range(tree.topLevelItemCount())
        for j in range(tree.topLevelItem(i).childCount())
        if not tree.topLevelItem(i).isHidden() and not tree.topLevelItem(i).child(j).isHidden()
    ]
    assert {"BatchNorm2d", "BatchNorm1d", "Conv-BN-ReLU"} == set(visible)  # help text counts
    group = next(
        tree.topLevelItem(i)
        for i in range(tree.topLevelItemCount())
        if tree.topLevelItem(i).text(0) == "Normalization"
    )
    tree.itemDoubleClicked.emit(group.child(0), 0)
    assert "batchnorm2d_1" in window.document.graph
    mime = QMimeData()
    mime.setData(BLOCK_MIME, b"dropout")
    drop = QDropEvent(
        QPointF(200, 150),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.view.dropEvent(drop)
    node = window.document.graph.node("dropout_1")
    expected = window.view.mapToScene(QPoint(200, 150))
    assert node.position == pytest.approx((expected.x(), expected.y()))
    window.document.undo_stack.undo()
    assert "dropout_1" not in window.document.graph and "dropout_1" not in window.scene.node_items


def test_connect_by_dragging_between_ports(window, qtbot):
    graph = window.document.graph
    relu = window.add_block("relu", QPointF(400, 0))
    viewport = window.view.viewport()
    start, end = port_pos(window, "input_1", "out"), port_pos(window, relu, "in")
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=(start + end) / 2)
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert graph.inputs_of(relu) == ["input_1"]
    assert f"connected input_1 → {relu}" in window.statusBar().currentMessage()
    # an occupied port refuses with the reason in the status bar
    start = port_pos(window, "tanh_1", "out")
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    assert f"cannot connect: input port 0 of {relu} is already fed by input_1" in (
        window.statusBar().currentMessage()
    )
    assert window.scene.try_connect(relu, "input_1") is False  # inputs have no ports


def test_inspector_edit_updates_shapes_and_problems_then_undo(window, qtbot):
    window.focus_node("conv2d_2")
    editors = window.inspector.editors
    assert isinstance(editors["kernel_h"], QSpinBox) and editors["kernel_h"].minimum() == 1
    editors["kernel_h"].setValue(16)
    editors["kernel_h"].editingFinished.emit()
    graph = window.document.graph
    assert graph.node("conv2d_2").params["kernel_h"] == 16
    errors = [t for t in problem_texts(window) if "kernel 16 > padded input 14" in t]
    assert errors and window.scene.node_items["conv2d_2"].error
    window.problems.itemClicked.emit(window.problems.item(0))
    assert window.scene.selected_node_ids() == ["conv2d_2"]
    window.undo_action.trigger()
    assert graph.node("conv2d_2").params["kernel_h"] == 5
    assert editors["kernel_h"].value() == 5  # the form follows undo
    assert not window.scene.node_items["conv2d_2"].error
    window.redo_action.trigger()
    assert graph.node("conv2d_2").params["kernel_h"] == 16


def test_inspector_refuses_values_the_model_refuses(window):
    node_id = window.add_block("dropout")
    window.focus_node(node_id)
    spin = window.inspector.editors["p"]
    assert isinstance(spin, QDoubleSpinBox) and spin.maximum() < 1.0  # p in [0, 1)
    add = window.add_block("add")
    window.document.connect("input_1", add, 1)
    window.focus_node(add)
    window.inspector.apply("inputs", 1)
    assert "refused" in window.statusBar().currentMessage()


def test_undo_redo_every_kind_of_edit_returns_the_identical_graph(window):
    original = snapshot(window)
    doc = window.document
    new = window.add_block("conv2d", QPointF(300, 300))
    doc.connect("input_1", new)
    doc.set_params(new, {"out_channels": 8, "padding": "same"})
    doc.move({new: (500.0, 120.0), "input_1": (10.0, -30.0)})
    window.focus_node("tanh_2")
    window.delete_selection()
    edges = [e for e in window.scene.edge_items if e.dst == "linear_1"]
    doc.remove([], edges)
    edited = snapshot(window)
    assert edited != original
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    assert snapshot(window) == original
    assert set(window.scene.node_items) == set(doc.graph.nodes)
    while doc.undo_stack.canRedo():
        doc.undo_stack.redo()
    assert snapshot(window) == edited


def test_undoing_a_delete_restores_the_module_path(window):
    doc = window.document
    doc.graph.set_path("linear_1", "classifier.0")
    window.focus_node("linear_1")
    window.delete_selection()
    assert "linear_1" not in doc.graph.nodes
    doc.undo_stack.undo()
    assert doc.graph.node("linear_1").path == "classifier.0"


def test_save_reopen_and_corrupt_files(window, tmp_path, monkeypatch):
    window.add_block("relu")
    assert window.windowTitle().startswith("LeNet-5 *")
    path = tmp_path / "net.json"
    window.document.save(path)
    assert window.windowTitle() == "net.json — NetBuilder"
    saved = snapshot(window)
    assert window.open_path(path)
    assert snapshot(window) == saved and window.document.path == path
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    (tmp_path / "bad.json").write_text('{"format": "netbuilder-project", "nodes": [')
    assert not window.open_path(tmp_path / "bad.json")
    assert "looks truncated" in shown[0]
    assert snapshot(window) == saved  # the current document is untouched


def test_new_document_and_close(window, qtbot):
    window.new_document()
    assert list(window.document.graph.nodes) == ["input_1"]
    window.close()
    assert not window.isVisible()


def test_summary_table_and_code_panel_follow_edits(window, qtbot):
    window.docks["Summary"].raise_()
    window.docks["Code"].raise_()
    table = window.summary.table
    assert table.rowCount() == 14
    names = [table.item(r, 1).text() for r in range(table.rowCount())]
    assert names[:2] == ["input_1", "conv2d_1"]  # network order (was: name, descending)
    row = names.index("conv2d_1")
    assert (table.item(row, 3).text(), table.item(row, 4).text()) == ("6×28×28", "156")
    assert "61,706 parameters" in window.summary.totals.text()
    table.sortItems(4, Qt.SortOrder.DescendingOrder)
    assert table.item(0, 1).text() == "linear_1"  # 48,120 parameters, the most
    table.sortItems(0, Qt.SortOrder.AscendingOrder)  # '#': back to network order
    assert [table.item(r, 1).text() for r in range(table.rowCount())] == names
    code = window.code.editor.toPlainText()
    assert "class LeNet5(nn.Module):" in code and "self.conv2d_1 = nn.Conv2d(1, 6, 5" in code
    window.document.set_params("conv2d_1", {"out_channels": 8})
    qtbot.waitUntil(lambda: "nn.Conv2d(1, 8, 5" in window.code.editor.toPlainText(), timeout=2000)
    qtbot.waitUntil(lambda: "61,706" not in window.summary.totals.text(), timeout=2000)
    window.docks["Problems"].raise_()  # hidden: no refresh until shown again
    window.document.set_params("conv2d_1", {"out_channels": 12})
    qtbot.wait(300)
    row = [table.item(r, 1).text() for r in range(table.rowCount())].index("conv2d_1")
    assert window.summary.stale and table.item(row, 3).text() == "8×28×28"
    window.docks["Summary"].raise_()
    qtbot.waitUntil(lambda: not window.summary.stale, timeout=2000)
    row = [table.item(r, 1).text() for r in range(table.rowCount())].index("conv2d_1")
    assert table.item(row, 3).text() == "12×28×28"
    window.document.set_params("conv2d_2", {"kernel_h": 16, "kernel_w": 16})
    qtbot.waitUntil(lambda: "Fix the errors" in window.code.status.text(), timeout=2000)


def test_summary_names_the_modules_as_the_canvas_and_the_export_do(window, qtbot):
    """A preset with module paths (ResNet-18: conv1, layer1.0…) lists them by those names,
    as its blocks are labelled and its exported model's attributes are named; the block id
    is in the tooltip."""
    window.open_preset("resnet18")
    window.docks["Summary"].raise_()
    table = window.summary.table
    qtbot.waitUntil(lambda: table.rowCount() == len(window.document.graph), timeout=2000)
    names = [table.item(r, 1).text() for r in range(table.rowCount())]
    assert names[:3] == ["input_1", "conv1", "bn1"] and "layer1.0" in names
    row = names.index("conv1")
    assert table.item(row, 1).toolTip().startswith("block conv2d_1, module conv1")


def test_auto_layout_is_one_undoable_step(window):
    before = snapshot(window)
    window.document.move({"input_1": (500.0, 500.0)})
    window.auto_layout()
    assert window.document.graph.node("input_1").position == (0.0, 0.0)
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert snapshot(window) == before


def test_presets_browser_lists_every_preset_and_opens_one(window, qtbot):
    from app.ui.presets_dialog import PresetsDialog

    dialog = PresetsDialog(window)
    qtbot.addWidget(dialog)
    assert dialog.list.count() >= len(presets.names())
    dialog.select("resnet18")
    assert "11,689,512" in dialog.details.text() and "He et al." in dialog.details.text()
    qtbot.waitUntil(lambda: not dialog.picture.pixmap().isNull())  # drawn a turn later
    window.open_preset(dialog.selected)
    assert window.windowTitle() == "ResNet-18 — NetBuilder"
    assert len(window.scene.node_items) == 16  # the stem is conv1, bn1, relu, as torchvision's


def test_copy_paste_and_duplicate_with_new_ids(window):
    graph = window.document.graph
    before = snapshot(window)
    for node_id in ("conv2d_1", "tanh_1"):
        window.scene.node_items[node_id].setSelected(True)
    window.copy_selection()
    window.paste()
    assert {"conv2d_3", "tanh_5"} <= set(graph.nodes)
    assert graph.inputs_of("tanh_5") == ["conv2d_3"]  # the inner edge came along
    assert graph.inputs_of("conv2d_3") == [None]  # the edge from outside did not
    assert graph.node("conv2d_3").params == graph.node("conv2d_1").params
    assert window.scene.selected_node_ids() == ["conv2d_3", "tanh_5"]
    window.duplicate()
    assert {"conv2d_4", "tanh_6"} <= set(graph.nodes)
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert snapshot(window) == before


def test_autosave_and_recovery_after_a_crash(window, qtbot, tmp_path):
    from app.ui.autosave import recoverable

    assert window.autosaver.save_now() is None  # nothing unsaved yet
    node = window.add_block("relu")
    path = window.autosaver.save_now()
    assert path is not None and recoverable() == [path]
    # a crash: the window is gone without a clean close; a new session offers recovery
    window.document.detach()
    fresh = MainWindow(Document(Project(presets.get("mlp").build(), "MLP")))
    qtbot.addWidget(fresh)
    fresh.confirm_discard = lambda: True
    fresh.ask_recover = lambda p: True
    assert fresh.offer_recovery()
    assert node in fresh.document.graph and fresh.document.modified
    fresh.document.save(tmp_path / "kept.json")
    fresh._saved()
    assert recoverable() == []  # saving removes the autosave


def test_recent_files(window, tmp_path):
    for name in ("a.json", "b.json"):
        window.document.save(tmp_path / name)
        window._saved()
    items = [a.text() for a in window.recent_menu.actions()]
    assert items == [str((tmp_path / "b.json").resolve()), str((tmp_path / "a.json").resolve())]


def test_each_command_rechecks_once_and_moves_reroute_only_their_edges(window):
    checks = []
    window.document.checked.connect(checks.append)
    window.auto_layout()  # moves all 14 nodes in one command
    window.document.undo_stack.undo()
    assert checks == []  # shapes do not depend on positions: moves never re-check
    window.document.remove(["tanh_1"], [])  # a structural command and its undo
    window.document.undo_stack.undo()
    assert len(checks) == 2  # one shape check per command, not one per change in it
    item = window.scene.node_items["conv2d_1"]
    item.setPos(item.pos() + QPointF(300, 0))  # what a mouse drag does, step by step
    edge = window.scene.edge_items[next(e for e in window.scene.edge_items if e.src == "conv2d_1")]
    start = edge.path().pointAtPercent(0)
    assert start == item.mapToScene(item.output_port())
    window.scene.commit_moves()
    assert window.document.graph.node("conv2d_1").position[0] == item.pos().x()


def test_a_graph_without_positions_opens_laid_out_and_unmodified(qtbot):
    """A graph built in code (every node at the origin) would show one pile of blocks."""
    from tests.helpers import relu_net

    graph = relu_net()
    assert len({n.position for n in graph.nodes.values()}) == 1
    window = MainWindow(Document(Project(graph, "from a script")))
    qtbot.addWidget(window)
    positions = [item.pos() for item in window.scene.node_items.values()]
    assert len({(p.x(), p.y()) for p in positions}) == len(positions)
    assert not window.document.modified  # nothing to save, nothing to undo
    assert window.document.undo_stack.count() == 0


def test_no_key_sequence_is_bound_twice(qtbot):
    """'QAction::event: Ambiguous shortcut overload: F' made F do nothing (issue 14.2)."""
    from PySide6.QtGui import QAction, QShortcut

    win = MainWindow(default_document())
    qtbot.addWidget(win)
    bound: dict[str, list[str]] = {}
    for act in win.findChildren(QAction):
        for seq in act.shortcuts():
            bound.setdefault(seq.toString(), []).append(act.text())
    for shortcut in win.findChildren(QShortcut):
        bound.setdefault(shortcut.key().toString(), []).append("QShortcut")
    twice = {k: v for k, v in bound.items() if k and len(v) > 1}
    assert not twice, twice


def test_f_fits_the_graph_to_the_window(qtbot, monkeypatch):
    win = open_window(qtbot, active=True)
    fits = []
    monkeypatch.setattr(win.view, "fit", lambda: fits.append(True))
    win.view.setFocus()
    qtbot.keyClick(win.view, Qt.Key.Key_F)
    assert fits == [True]


def test_a_deleted_input_can_be_added_back_from_the_palette(qtbot):
    """The palette hid Input, so after deleting it Problems said 'add one' and nothing could
    (issue 14.3). Every block a user draws is in the palette (an opaque module is made by an
    import), and search finds Input."""
    from PySide6.QtCore import Qt as _Qt

    from blocks import REGISTRY

    win = MainWindow(default_document())
    win.confirm_discard = lambda: True
    qtbot.addWidget(win)
    tree = win.palette_panel.tree
    listed = {
        tree.topLevelItem(i).child(j).data(0, _Qt.ItemDataRole.UserRole)
        for i in range(tree.topLevelItemCount())
        for j in range(tree.topLevelItem(i).childCount())
    }
    assert listed == {b.type_id for b in REGISTRY if b.palette}
    assert "opaque" not in listed
    win.document.remove(["input_1"])
    assert any(p.code == "no_input" for p in win.document.report.errors)
    win.palette_panel.search.setText("input")
    shown = [
        tree.topLevelItem(i).child(j)
        for i in range(tree.topLevelItemCount())
        for j in range(tree.topLevelItem(i).childCount())
        if not tree.topLevelItem(i).child(j).isHidden()
    ]
    item = next(i for i in shown if i.data(0, _Qt.ItemDataRole.UserRole) == "input")
    tree.itemDoubleClicked.emit(item, 0)
    assert not any(p.code == "no_input" for p in win.document.report.errors)


def test_undo_says_what_it_undoes_and_one_layer_is_singular(qtbot):
    win = MainWindow(default_document())
    win.confirm_discard = lambda: True
    qtbot.addWidget(win)
    assert win.undo_action.text() == "&Undo"
    win.document.move({"conv2d_1": (300.0, 40.0)})
    assert win.undo_action.text() == "&Undo Move 1 node"
    win.undo_action.trigger()
    assert win.redo_action.text() == "&Redo Move 1 node" and win.undo_action.text() == "&Undo"
    from app.core.shapes import counted

    assert (counted(1, "layer"), counted(5, "layer")) == ("1 layer", "5 layers")


def test_training_keeps_the_layout_of_the_window(qtbot):
    """Starting a run widened the Training dock from ~390 to 620 px for good; at 1000×700 the
    canvas was left a 120 px sliver (issue 14.9), and re-laying out the window for it held the
    first F5 for 40-60 ms (issue 24). The dock now keeps its width, and the canvas with it."""
    win = open_window(qtbot, (1000, 700))
    qtbot.wait(50)
    canvas = win.view.width()  # (a tabified dock's own width is stale until it is shown)
    win._training_running(True)
    qtbot.wait(50)
    assert win.docks["Training"].isVisible()  # brought forward
    assert win.view.width() == canvas and win.view.width() >= 300
    win._training_running(False)
    qtbot.wait(50)
    assert win.view.width() == canvas
    # on a large screen the right docks start wide enough for the curves (about a third)
    wide = open_window(qtbot, (1600, 1000))
    qtbot.wait(50)
    assert 500 <= wide.docks["Inspector"].width() <= 620


def test_ctrl_z_in_an_inspector_field_undoes_the_document(qtbot):
    """Ctrl+Z with the focus in an Inspector field did nothing (issue 14.10)."""
    win = open_window(qtbot, active=True)
    doc = win.document
    doc.set_params("conv2d_1", {"out_channels": 8})
    win.docks["Inspector"].raise_()
    win.focus_node("conv2d_1")  # as a click on the block: the Inspector shows its fields
    field = win.inspector.editors["out_channels"]
    qtbot.waitUntil(field.isVisible)
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)  # the user clicks into the field
    qtbot.waitUntil(lambda: field.isAncestorOf(QApplication.focusWidget()) or field.hasFocus())
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.graph.nodes["conv2d_1"].params["out_channels"] == 6  # LeNet's value again
    redo = win.redo_action.shortcut()[0]  # the platform's Redo: Ctrl+Shift+Z or Ctrl+Y
    qtbot.keyClick(QApplication.focusWidget(), redo.key(), redo.keyboardModifiers())
    assert doc.graph.nodes["conv2d_1"].params["out_channels"] == 8


def _palette_item(tree, type_id):
    from PySide6.QtCore import Qt as _Qt

    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        for j in range(group.childCount()):
            if group.child(j).data(0, _Qt.ItemDataRole.UserRole) == type_id:
                return group.child(j)
    raise KeyError(type_id)


def _double_click(qtbot, tree, item):
    """As a mouse does it: a click, then the double-click."""
    tree.scrollToItem(item)
    centre = tree.visualItemRect(item).center()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_double_click_adds_below_the_selected_block_connected_in_free_space(qtbot):
    """It added the block on top of others at the view centre (issue 14.10)."""
    from app.core.layout import ROW_GAP
    from app.ui.canvas_items import NODE_H, NODE_W

    win = open_window(qtbot)
    graph = win.document.graph
    tree = win.palette_panel.tree
    win.focus_node("output_1")  # the last block: below it is free
    _double_click(qtbot, tree, _palette_item(tree, "relu"))
    assert "relu_1" in graph  # LeNet has tanh, not relu
    # below Output, which has no output: placed, not connected
    assert graph.inputs_of("relu_1") == [None]
    x, y = graph.node("output_1").position
    assert graph.node("relu_1").position == (x, y + ROW_GAP)
    # select the tanh after the first conv: the new block goes below it, in free space
    win.focus_node("tanh_1")
    _double_click(qtbot, tree, _palette_item(tree, "dropout"))
    new = graph.nodes["dropout_1"]
    assert graph.inputs_of("dropout_1") == ["tanh_1"]
    for other in graph.nodes.values():
        if other.id != "dropout_1":
            dx, dy = other.position[0] - new.position[0], other.position[1] - new.position[1]
            assert abs(dx) >= NODE_W or abs(dy) >= NODE_H, other.id
    assert win.undo_action.text() == "&Undo Add Dropout"
    win.undo_action.trigger()  # one step: the block and its connection
    assert "dropout_1" not in graph and len(list(graph.successors("tanh_1"))) == 1


def test_the_window_fits_a_1000_by_700_screen(qtbot):
    """The Training dock's settings held the window at least 730 px tall, so at 1000×700 the
    status bar was off the screen (seen on Xvfb)."""
    win = open_window(qtbot, (1000, 700))
    win.docks["Training"].raise_()
    qtbot.wait(50)
    assert win.minimumSizeHint().height() <= 700 and win.size().height() == 700
    assert win.statusBar().geometry().bottom() < 700


def test_the_default_lenet_opens_readable(qtbot):
    """LeNet-5 opened at about 5 px text: fitted to the view before the window's layout and
    to its whole height (issue 14.9). It is fitted again when the view grows, and never below
    a readable scale; the Input is in view."""
    from app.ui.canvas import MIN_FIT_SCALE

    for width, height in ((1600, 1000), (1000, 700)):
        win = open_window(qtbot, (width, height))
        qtbot.wait(50)
        assert win.view.transform().m11() >= MIN_FIT_SCALE - 1e-6
        item = win.scene.node_items["input_1"]
        shown = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
        assert shown.contains(item.sceneBoundingRect().center())
        fitted = win.view.transform().m11()
        centre = QPointF(win.view.viewport().rect().center())
        wheel = QWheelEvent(
            centre, win.view.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(win.view.viewport(), wheel)  # the user zooms in: it stays
        before = win.view.transform().m11()
        assert before > fitted
        win.resize(width - 100, height - 50)
        qtbot.wait(50)
        assert win.view.transform().m11() == before


def test_the_summary_shows_more_than_two_rows(qtbot):
    win = open_window(qtbot, (1600, 1000))
    win.docks["Summary"].raise_()
    qtbot.wait(50)
    table = win.summary.table
    rows = table.viewport().height() // max(1, table.rowHeight(0))
    assert rows >= 5, rows


def test_presets_browser_searches_groups_and_shows_whole_names(qtbot):
    """Names were cut, the preview was unreadable, and there was no search or grouping."""
    from app.ui.presets_dialog import PresetsDialog

    dialog = PresetsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    items = [dialog.list.item(r) for r in range(dialog.list.count())]
    headings = [i.text() for i in items if i.data(Qt.ItemDataRole.UserRole) is None]
    assert headings[:2] == ["Course and CIFAR", "ImageNet (torchvision architectures)"]
    metrics = dialog.list.fontMetrics()
    widest = max(metrics.horizontalAdvance(i.text()) for i in items)
    assert dialog.list.viewport().width() >= widest  # no name is cut
    qtbot.keyClicks(dialog.search, "squeezenet")
    shown = [i.data(Qt.ItemDataRole.UserRole) for i in items if not i.isHidden()]
    assert shown == [None, "squeezenet_cifar", None, "squeezenet1_0", "squeezenet1_1"]
    assert dialog.selected == "squeezenet_cifar"
    dialog.search.clear()
    assert all(not i.isHidden() for i in items)


def test_the_input_inspector_shows_only_its_layouts_fields(qtbot):
    """The Input inspector showed depth and features for an image (issue 14.9)."""
    win = open_window(qtbot)
    win.focus_node("input_1")
    assert set(win.inspector.editors) == {"layout", "channels", "height", "width"}
    win.document.set_params("input_1", {"layout": "vector"})
    qtbot.waitUntil(lambda: set(win.inspector.editors) == {"layout", "features"})
    win.document.undo_stack.undo()
    qtbot.waitUntil(lambda: set(win.inspector.editors) == {"layout", "channels", "height", "width"})
    win.focus_node("conv2d_1")  # other blocks: every param
    assert len(win.inspector.editors) == len(win.document.graph.block("conv2d_1").params)


def test_changing_the_layout_in_its_own_field_rebuilds_the_form(qtbot):
    """The layout combo box is replaced while its own signal runs: it must not crash."""
    win = open_window(qtbot)
    win.focus_node("input_1")
    combo = win.inspector.editors["layout"]
    combo.setCurrentIndex(combo.findText("volume"))  # as a user's choice: the signal fires
    qtbot.wait(50)
    assert win.document.graph.nodes["input_1"].params["layout"] == "volume"
    assert set(win.inspector.editors) == {"layout", "channels", "depth", "height", "width"}


def test_file_dialogs_suggest_a_name_and_a_user_folder(qtbot, monkeypatch, tmp_path):
    """Export dialogs offered no file name and opened in the app's source folder."""
    from app.ui import file_names

    win = open_window(qtbot)
    asked = []

    def ask_save(parent, title, start, filters):
        asked.append(start)
        file_names.remember(tmp_path / "saved.json")
        return str(tmp_path / "saved.json")

    monkeypatch.setattr(file_names, "ask_save", ask_save)
    win.save_as()
    first = Path(asked[0])
    assert first.name == "LeNet-5.json" and first.parent != Path.cwd()
    win.export_image_dialog()  # the next dialog starts where the last one saved
    assert Path(asked[1]) == tmp_path / "LeNet-5.png"
    assert file_names.suggested("a/b: c", ".py", tmp_path) == str(tmp_path / "a_b_c.py")


def test_opening_a_file_with_hostile_node_ids_repairs_and_says_so(qtbot, monkeypatch, tmp_path):
    """Keyword ids ('class', 'if') escaped the window's Open as an untyped error (issue 15.3):
    the loader renames them, the window lists the repairs and opens the document modified."""
    import json

    win = open_window(qtbot)
    doc = json.loads(snapshot(win))
    renames = {"conv2d_1": "class", "tanh_1": "training"}
    for node in doc["nodes"]:
        node["id"] = renames.get(node["id"], node["id"])
    for edge in doc["edges"]:
        edge["src"], edge["dst"] = (renames.get(edge[k], edge[k]) for k in ("src", "dst"))
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *args: shown.append(args[2]))
    assert win.open_path(path)
    assert "renamed to 'class_1'" in shown[0] and "renamed to 'training_1'" in shown[0]
    assert {"class_1", "training_1"} <= set(win.document.graph.nodes)
    assert win.document.modified and win.windowTitle().startswith("hostile.json *")


def test_the_window_opens_within_the_screen(qtbot):
    """1400×860 on a screen that has the room; the screen's free area where it has not (a
    window wider than the screen hid the Inspector and Training docks off its edge)."""
    from PySide6.QtGui import QGuiApplication

    from app.ui.app import default_document
    from app.ui.main_window import MainWindow

    free = QGuiApplication.primaryScreen().availableGeometry()
    win = MainWindow(default_document())
    qtbot.addWidget(win)
    win.confirm_discard = lambda: True
    assert (win.width(), win.height()) == (min(1400, free.width()), min(860, free.height()))


def test_each_settings_page_shows_all_its_rows_at_1000x700(qtbot):
    """The settings scroll as a whole; no page is squeezed into a scrolling sliver."""
    from tests.ui.helpers import open_window

    win = open_window(qtbot, (1000, 700))
    panel = win.training
    win.docks["Training"].raise_()
    qtbot.waitUntil(lambda: panel.isVisible())
    for i in range(panel.toolbox.count()):
        panel.toolbox.setCurrentIndex(i)
        page = panel.toolbox.widget(i)
        shown = page.parentWidget()  # the toolbox shows each page in a scroll area of its own
        qtbot.waitUntil(lambda p=page, v=shown: v.height() >= p.sizeHint().height())
