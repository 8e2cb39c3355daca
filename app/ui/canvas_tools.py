"""Canvas extras: the look-inside view of a composite block, and canvas export as PNG/SVG."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGraphicsItem, QLabel, QVBoxLayout, QWidget

from app.core.edits import ExpansionError, apply_steps, expand_node
from app.core.graph import Graph
from app.core.layout import layered_layout
from app.core.serialization import Project
from app.core.shapes import check
from app.ui.canvas import GraphScene, GraphView
from app.ui.document import Document

IMAGE_FILTER = "PNG image (*.png);;SVG drawing (*.svg)"


def inside_graph(graph: Graph, node_id: str) -> Graph:
    """A small graph: an input of the block's input shape, then the block's primitive parts
    (ExpansionError when the block has no inside or its input shape is unknown)."""
    src = graph.inputs_of(node_id)[0] if graph.inputs_of(node_id) else None
    report = check(graph)
    info = report.nodes.get(src) if src else None
    shape = info.shape if info else None
    if shape is None or len(shape) != 3:
        expand_node(graph, node_id, report)  # raises with the reason when the shape is unknown
        raise ExpansionError(f"{node_id} needs an image input (C×H×W) to show its inside")
    inner = Graph(graph.registry)
    c, h, w = shape
    inner.add_node("input", {"channels": c, "height": h, "width": w}, node_id="input_1")
    node = graph.node(node_id)
    inner.add_node(node.type_id, node.params, node_id=node_id)
    inner.connect("input_1", node_id)
    _, steps = expand_node(inner, node_id)
    apply_steps(inner, steps)
    for nid, pos in layered_layout(inner).items():
        inner.move_node(nid, pos)
    return inner


class InsideDialog(QDialog):
    """Read-only view of a composite block's inside, with a button to expand it in place."""

    def __init__(self, graph: Graph, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        block = graph.block(node_id)
        self.setWindowTitle(f"Inside {node_id} ({block.title})")
        self.resize(760, 680)
        self.document = Document(Project(inside_graph(graph, node_id), f"inside {node_id}"))
        self.document.setParent(self)
        self.scene = GraphScene(self.document)
        self.scene.setParent(self)
        self.view = GraphView(self.scene)
        self.view.setInteractive(False)  # look, do not touch: edit after expanding in place
        layout = QVBoxLayout(self)
        info = self.document.report
        layout.addWidget(
            QLabel(
                f"{block.title}: {block.summary(graph.node(node_id).params)} — "
                f"{len(info.nodes) - 1} primitive blocks, {info.total_params:,} parameters. "
                "Expand in place to edit them (undo brings the block back)."
            )
        )
        layout.addWidget(self.view, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.expand_button = buttons.addButton(
            "Expand in Place", QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.view.fit()


def export_image(scene: GraphScene, path: Path, scale: float = 2.0) -> Path:
    """Write the whole graph (no grid, no selection marks) as PNG or SVG, chosen by the
    file's suffix (PNG when it has none). PNGs are drawn at ``scale`` for print sharpness."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        path = path.with_suffix(".png")
    rect = scene.itemsBoundingRect().adjusted(-30, -30, 30, 30)
    selected = scene.selectedItems()
    grid = scene.show_grid
    scene.clearSelection()
    scene.show_grid = False
    cached = [i for i in scene.items() if i.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    for item in cached:  # draw vectors and text, not cached pixmaps
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        size = QSize(int(rect.width() * scale), int(rect.height() * scale))
        if path.suffix.lower() == ".svg":
            from PySide6.QtSvg import QSvgGenerator

            generator = QSvgGenerator()
            generator.setFileName(str(path))
            generator.setSize(rect.size().toSize())
            generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
            generator.setTitle("NetBuilder graph")
            painter = QPainter(generator)
            scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
            painter.end()
        else:
            image = QImage(size, QImage.Format.Format_ARGB32)
            image.fill(QColor(scene.theme.background))
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
            scene.render(painter, QRectF(0, 0, size.width(), size.height()), rect)
            painter.end()
            if not image.save(str(path)):
                raise OSError(f"could not write {path}")
    finally:
        for item in cached:
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        scene.show_grid = grid
        for item in selected:
            item.setSelected(True)
    return path
