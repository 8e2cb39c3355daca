"""Canvas extras driven through the real widgets: insert on an edge, look inside / expand
composite blocks, space-drag pan, grid, image export, themes, every preset in the window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QDragMoveEvent, QDropEvent, QImage, QPainter, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

import presets
from app.core.serialization import Project, to_json
from app.ui.canvas import DARK, LIGHT, CanvasTheme, GraphScene
from app.ui.canvas_tools import InsideDialog
from app.ui.document import Document
from app.ui.main_window import MainWindow
from app.ui.panels import BLOCK_MIME


def make_window(qtbot, preset: str) -> MainWindow:
    p = presets.get(preset)
    win = MainWindow(Document(Project(p.build(), p.title)))
    win.confirm_discard = lambda: True
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def window(qtbot):
    return make_window(qtbot, "lenet5")


def edge_midpoint(win: MainWindow, src: str, dst: str) -> QPoint:
    item = next(i for e, i in win.scene.edge_items.items() if (e.src, e.dst) == (src, dst))
    win.view.centerOn(item.path().pointAtPercent(0.5))
    return win.view.mapFromScene(item.path().pointAtPercent(0.5))


def drag_over(win: MainWindow, type_id: str, at: QPoint) -> QMimeData:
    """A palette block dragged over the canvas at ``at`` (not dropped yet)."""
    mime = QMimeData()
    mime.setData(BLOCK_MIME, type_id.encode())
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    win.view.dragMoveEvent(QDragMoveEvent(at, Qt.DropAction.CopyAction, mime, buttons, modifiers))
    return mime


def drop_block(win: MainWindow, type_id: str, at: QPoint) -> None:
    mime = drag_over(win, type_id, at)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    win.view.dropEvent(QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, buttons, modifiers))


def test_drop_on_an_edge_inserts_the_block_and_undo_restores(window):
    graph = window.document.graph
    before = to_json(window.document.project)
    at = edge_midpoint(window, "conv2d_1", "tanh_1")
    drag_over(window, "batchnorm2d", at)
    hovered = [e for e, i in window.scene.edge_items.items() if i.hover]
    assert [(e.src, e.dst) for e in hovered] == [("conv2d_1", "tanh_1")]  # shown before drop
    drop_block(window, "batchnorm2d", at)
    assert graph.inputs_of("batchnorm2d_1") == ["conv2d_1"]
    assert graph.inputs_of("tanh_1") == ["batchnorm2d_1"]
    assert not any(i.hover for i in window.scene.edge_items.values())
    label = next(i.label for e, i in window.scene.edge_items.items() if e.src == "batchnorm2d_1")
    assert label == "6×28×28"
    assert "inserted batchnorm2d_1 between conv2d_1 and tanh_1" in (
        window.statusBar().currentMessage()
    )
    window.undo_action.trigger()
    assert to_json(window.document.project) == before
    drop_block(window, "input", edge_midpoint(window, "conv2d_1", "tanh_1"))
    assert "cannot insert here: Input has no input port" in window.statusBar().currentMessage()
    assert to_json(window.document.project) == before


def test_look_inside_then_expand_in_place_and_undo(qtbot, monkeypatch):
    win = make_window(qtbot, "resnet18_cifar")
    graph = win.document.graph
    block = next(n for n, node in graph.nodes.items() if node.type_id == "residual")
    dialog = InsideDialog(graph, block, win)
    qtbot.addWidget(dialog)
    inner = dialog.document.graph
    assert dialog.document.report.ok
    assert sorted(graph.node(n).type_id for n in [block]) == ["residual"]
    assert {inner.node(n).type_id for n in inner.nodes} == {
        "input",
        "conv2d",
        "batchnorm2d",
        "relu",
        "add",
    }
    assert dialog.document.report.total_params == win.document.report.nodes[block].params
    before = to_json(win.document.project)
    total = win.document.report.total_params
    monkeypatch.setattr(InsideDialog, "exec", lambda self: 1)  # "Expand in Place"
    win.scene.node_activated.emit(block)  # what a double-click sends
    assert block not in graph and f"{block}_conv1" in graph
    assert win.document.report.ok and win.document.report.total_params == total
    assert set(win.scene.selected_node_ids()) == {n for n in graph.nodes if n.startswith(block)}
    win.undo_action.trigger()
    assert to_json(win.document.project) == before
    win.redo_action.trigger()
    assert f"{block}_conv1" in graph
    win.focus_node("input_1")
    win._expand_selected()  # a primitive: nothing happens
    assert "input_1" in graph


def test_space_drag_pans_even_over_blocks(window, qtbot):
    view, viewport = window.view, window.view.viewport()
    view.scale(3, 3)
    view.centerOn(window.scene.node_items["conv2d_1"])
    node_pos = window.document.graph.node("conv2d_1").position
    start = view.mapFromScene(window.scene.node_items["conv2d_1"].sceneBoundingRect().center())
    h, v = view.horizontalScrollBar().value(), view.verticalScrollBar().value()
    view.setFocus()
    qtbot.keyPress(view, Qt.Key.Key_Space)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=start - QPoint(0, 40))
    qtbot.mouseMove(viewport, pos=start - QPoint(0, 80))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=start - QPoint(0, 80))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert (h, v) != (view.horizontalScrollBar().value(), view.verticalScrollBar().value())
    assert window.document.graph.node("conv2d_1").position == node_pos  # panned, not moved
    assert view.isInteractive() and not window.document.undo_stack.canRedo()


def background_pixel(scene: GraphScene, x: float, y: float) -> QColor:
    """The background's colour at scene point (x, y), drawn at scale 1."""
    image = QImage(40, 40, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    painter.translate(20 - x, 20 - y)
    scene.drawBackground(painter, QRectF(x - 20, y - 20, 40, 40))
    painter.end()
    return image.pixelColor(20, 20)


def test_grid_lines_toggle(window):
    scene = window.scene
    on_line = background_pixel(scene, 100.0, 37.0)  # x = 100 is a major grid line
    between = background_pixel(scene, 110.0, 37.0)
    assert on_line != between and between == QColor(scene.theme.background)
    window.grid_action.trigger()
    assert not scene.show_grid
    assert background_pixel(scene, 100.0, 37.0) == QColor(scene.theme.background)


def test_export_canvas_png_and_svg(window, tmp_path, monkeypatch):
    window.focus_node("conv2d_1")
    png = window.export_canvas(tmp_path / "lenet.png")
    image = QImage(str(png))
    rect = window.scene.itemsBoundingRect()
    assert image.width() == int((rect.width() + 60) * 2)
    assert image.height() == int((rect.height() + 60) * 2)
    svg = window.export_canvas(tmp_path / "lenet.svg")
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text and "Conv2d" in text
    assert window.export_canvas(tmp_path / "figure").suffix == ".png"
    assert window.scene.selected_node_ids() == ["conv2d_1"]  # selection kept
    assert window.scene.show_grid
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))
    assert window.export_canvas(tmp_path / "missing" / "x.png") is None
    assert shown == [f"could not write {tmp_path / 'missing' / 'x.png'}"]


def test_dark_palette_gives_the_dark_canvas(window):
    app = QApplication.instance()
    old = app.palette()
    dark = QPalette(old)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202225"))
    assert CanvasTheme.for_palette(dark) is DARK
    assert CanvasTheme.for_palette(old) is LIGHT
    app.setPalette(dark)
    try:
        scene = GraphScene(window.document)
        assert scene.theme is DARK
        scene.deleteLater()
    finally:
        app.setPalette(old)


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_opens_in_the_window(window, name):
    window.open_preset(name)
    graph = window.document.graph
    assert set(window.scene.node_items) == set(graph.nodes)
    assert set(window.scene.edge_items) == set(graph.edges())
    assert window.document.report.ok
    assert not any(item.error for item in window.scene.node_items.values())
    problems = window.document.report.problems
    assert window.problems.count() == max(1, len(problems))  # or the one 'No problems' line
    assert [window.problems.item(i).text() for i in range(len(problems))] == [
        p.message for p in problems
    ]
    assert window.windowTitle().startswith(presets.get(name).title)


def test_tooltips_show_the_formula_or_the_error(window):
    conv = window.scene.node_items["conv2d_1"]
    assert "H_out = floor((28 − 5 + 2·2) / 1) + 1 = 28" in conv.tooltip_text()
    window.document.set_params("conv2d_2", {"kernel_h": 16})
    assert "kernel 16 > padded input 14" in window.scene.node_items["conv2d_2"].tooltip_text()
    edge = next(i for e, i in window.scene.edge_items.items() if e.src == "conv2d_1")
    assert edge.tooltip_text() == "conv2d_1 → tanh_1 (port 0): 6×28×28"


def test_a_stage_collapses_to_one_box_by_its_title_and_opens_by_the_box(qtbot):
    """ResNet-18's layer1: a click on the frame's title hides its two blocks and the edge
    between them, draws one box with the stage's shapes and parameters, and routes the
    edges from outside to the box; a click on the box opens the stage. The graph and the
    undo history do not change (a view setting)."""
    win = make_window(qtbot, "resnet18")
    scene, view, graph = win.scene, win.view, win.document.graph
    before = to_json(win.document.project)
    frame = scene.group_items["layer1"]
    title = frame.frame.topLeft() + QPointF(30, 12)
    view.centerOn(title)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(title))
    assert frame.collapsed and scene.collapsed == {"layer1"}
    members = scene.members("layer1")
    assert [graph.node(n).path for n in members] == ["layer1.0", "layer1.1"]
    assert not any(scene.node_items[n].isVisible() for n in members)
    inner = next(i for e, i in scene.edge_items.items() if (e.src, e.dst) == tuple(members))
    assert not inner.isVisible()
    assert frame.summary() == ("2 blocks · 147,968 params", "64×56×56 → 64×56×56")
    into = next(i for e, i in scene.edge_items.items() if e.dst == members[0])
    assert into.path().pointAtPercent(1.0) == frame.in_port()
    out = next(
        i for e, i in scene.edge_items.items() if e.src == members[1] and e.dst not in members
    )
    assert out.path().pointAtPercent(0.0) == frame.out_port()
    assert to_json(win.document.project) == before and not win.document.undo_stack.canUndo()
    box = frame.frame.center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(box))
    assert not frame.collapsed and all(scene.node_items[n].isVisible() for n in members)
    assert inner.isVisible()


def test_all_stages_collapse_and_open_from_the_view_menu(qtbot):
    win = make_window(qtbot, "resnet50")
    menu = {a.text().replace("&", ""): a for a in win.menuBar().actions()}["View"].menu()
    actions = {a.text().replace("&", ""): a for a in menu.actions()}
    actions["Collapse All Stages"].trigger()
    assert win.scene.collapsed == {"layer1", "layer2", "layer3", "layer4"}
    shown = [n for n, i in win.scene.node_items.items() if i.isVisible()]
    assert len(shown) == 8  # input, conv1, bn1, relu, maxpool, avgpool, fc, output
    actions["Open All Stages"].trigger()
    assert not win.scene.collapsed
    assert all(i.isVisible() for i in win.scene.node_items.values())
