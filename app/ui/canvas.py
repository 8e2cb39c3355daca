"""The graph canvas: a QGraphicsScene that mirrors the document's graph and a view with zoom,
pan and fit. Items hold no logic: edits go through the document's commands."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPalette,
    QPen,
    QShortcut,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QToolTip,
    QWidget,
)

from app.core.graph import Edge, Graph
from app.ui.document import Document
from blocks import shape_text
from blocks.expansion import can_expand

NODE_W, NODE_H, PORT_R = 190.0, 62.0, 6.0
GRID = 20.0  # minor grid step; every 5th line is major
CATEGORY_COLOURS = {
    "Input / Output": "#5b6b7f",
    "Convolution": "#2f6db5",
    "Pooling": "#2a8a7a",
    "Dense": "#7a5fb0",
    "Normalization": "#b07a2a",
    "Regularization": "#8a6f4f",
    "Activation": "#3f8f3f",
    "Merge": "#a0527a",
    "Composite": "#b04a3a",
}


def category_colour(category: str) -> QColor:
    return QColor(CATEGORY_COLOURS.get(category, "#666666"))


@dataclass(frozen=True)
class CanvasTheme:
    """Canvas colours; the dark set is used when the system palette is dark."""

    background: str = "#eef0f4"
    grid_minor: str = "#e3e6ec"
    grid_major: str = "#d3d7df"
    node: str = "#fbfbfd"
    text: str = "#1d1d24"
    detail: str = "#4a4a55"
    shape: str = "#22663a"
    edge: str = "#7c8594"
    edge_label: str = "#2d3340"
    port: str = "#ffffff"
    port_rim: str = "#333333"

    @classmethod
    def for_palette(cls, palette: QPalette) -> CanvasTheme:
        return DARK if palette.color(QPalette.ColorRole.Window).lightness() < 128 else LIGHT


LIGHT = CanvasTheme()
DARK = CanvasTheme(
    background="#1f2228",
    grid_minor="#262a31",
    grid_major="#30353e",
    node="#2b2f37",
    text="#eceef2",
    detail="#b4b8c2",
    shape="#7fd49a",
    edge="#8d96a6",
    edge_label="#d5d9e0",
    port="#50555f",
    port_rim="#c8ccd4",
)
ERROR, SELECTED, HOVER, NONFINITE = "#d0312d", "#f5c518", "#f5a700", "#c2185b"


def heat_colour(update_ratio: float) -> QColor:
    """Blue (updates too small, < 1e-5) → green (about 1e-3, healthy) → red (> 1e-1)."""
    if not update_ratio > 0:
        return QColor("#3b6fd6")
    x = max(-5.0, min(-1.0, math.log10(update_ratio)))
    if x <= -3.0:
        t = (x + 5.0) / 2.0  # 0 at 1e-5 … 1 at 1e-3
        return QColor.fromHsvF((0.62 - 0.29 * t) % 1.0, 0.75, 0.85)
    t = (x + 3.0) / 2.0  # 0 at 1e-3 … 1 at 1e-1
    return QColor.fromHsvF(0.33 * (1 - t), 0.8, 0.9)


class NodeItem(QGraphicsItem):
    """One block: title, key parameters, output shape; input ports on top, output below."""

    def __init__(self, scene: GraphScene, node_id: str) -> None:
        super().__init__()
        self.graph_scene = scene
        self.node_id = node_id
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(1)
        self.error = ""
        self.state: tuple | None = None  # what was last drawn (error, info, label, params)
        self.ports = -1  # number of input ports last drawn
        self.stat = None  # LayerStat of the running training, drawn as a heat strip
        self.nonfinite = False  # the first layer that produced NaN/Inf in a run

    # geometry
    def boundingRect(self) -> QRectF:
        return QRectF(-PORT_R, -PORT_R, NODE_W + 2 * PORT_R, NODE_H + 2 * PORT_R)

    def n_inputs(self) -> int:
        return len(self.graph_scene.document.graph.inputs_of(self.node_id))

    def input_port(self, index: int) -> QPointF:
        n = max(1, self.n_inputs())
        return QPointF(NODE_W * (index + 1) / (n + 1), 0.0)

    def output_port(self) -> QPointF:
        return QPointF(NODE_W / 2, NODE_H)

    def port_at(self, scene_pos: QPointF) -> tuple[str, int] | None:
        """('in', index) or ('out', 0) when ``scene_pos`` is on a port."""
        p = self.mapFromScene(scene_pos)
        hit = PORT_R * 2
        if (p - self.output_port()).manhattanLength() <= hit:
            return ("out", 0)
        for i in range(self.n_inputs()):
            if (p - self.input_port(i)).manhattanLength() <= hit:
                return ("in", i)
        return None

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        doc = self.graph_scene.document
        node = doc.graph.node(self.node_id)
        block = doc.graph.registry.get(node.type_id)
        info = doc.report.nodes.get(self.node_id)
        colour = category_colour(block.category)
        theme = self.graph_scene.theme
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = (
            QColor(ERROR)
            if self.error
            else (QColor(SELECTED) if self.isSelected() else colour.darker(140))
        )
        painter.setPen(QPen(border, 3 if (self.error or self.isSelected()) else 1.5))
        painter.setBrush(QBrush(QColor(theme.node)))
        painter.drawRoundedRect(QRectF(0, 0, NODE_W, NODE_H), 7, 7)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRectF(0, 0, 8, NODE_H), 3, 3)
        width = int(NODE_W - 20)
        bold = QFont(painter.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor(theme.text))
        composite = can_expand(node.type_id)
        if composite:  # a second outline behind: a block with an inside (double-click shows it)
            width -= 18
            painter.save()
            painter.setPen(QPen(colour, 1.2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(NODE_W - 22, 4, 16, 16), 3, 3)
            painter.drawLine(QPointF(NODE_W - 18, 12), QPointF(NODE_W - 10, 12))
            painter.drawLine(QPointF(NODE_W - 14, 8), QPointF(NODE_W - 14, 16))
            painter.restore()
        title = QFontMetrics(bold).elidedText(block.title, Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(14, 3, width, 18), Qt.AlignmentFlag.AlignLeft, title)
        small = QFont(painter.font().family(), max(7, painter.font().pointSize() - 1))
        painter.setFont(small)
        painter.setPen(QColor(theme.detail))
        detail = " · ".join(t for t in (node.label or node.id, block.summary(node.params)) if t)
        detail = QFontMetrics(small).elidedText(detail, Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(14, 22, width, 16), Qt.AlignmentFlag.AlignLeft, detail)
        shape = (
            shape_text(info.shape)
            if info and info.shape is not None
            else ("error" if self.error else "?")
        )
        painter.setPen(QColor(ERROR) if self.error else QColor(theme.shape))
        painter.drawText(QRectF(14, 40, width, 16), Qt.AlignmentFlag.AlignLeft, f"→ {shape}")
        if self.stat is not None:  # training diagnostics: update/weight ratio as a heat strip
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(heat_colour(self.stat.update_ratio))
            painter.drawRoundedRect(QRectF(NODE_W - 58, NODE_H - 15, 50, 10), 3, 3)
        if self.nonfinite:
            painter.setPen(QPen(QColor(NONFINITE), 3, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(-3, -3, NODE_W + 6, NODE_H + 6), 9, 9)
        painter.setPen(QPen(QColor(theme.port_rim), 1))
        for i in range(self.n_inputs()):
            painter.setBrush(QColor(theme.port))
            painter.drawEllipse(self.input_port(i), PORT_R, PORT_R)
        if node.type_id != "output":
            painter.setBrush(colour)
            painter.drawEllipse(self.output_port(), PORT_R, PORT_R)

    def tooltip_text(self) -> str:
        """The error, or the output-size formulas with numbers (built when hovered)."""
        if self.error:
            return self.error
        lines = []
        if self.nonfinite:
            lines.append("the first layer that produced NaN/Inf in the last run")
        if self.stat is not None:
            s = self.stat
            lines.append(
                f"training: grad norm {s.grad_norm:.3g}, update/weight {s.update_ratio:.2e} "
                "(about 1e-3 is healthy)"
            )
        info = self.graph_scene.document.report.nodes.get(self.node_id)
        formulas = "\n".join(str(f) for f in (info.formulas if info else ()))
        return "\n".join([self.node_id, *lines, *([formulas] if formulas else [])])

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.graph_scene.node_activated.emit(self.node_id)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.graph_scene.node_moved(self.node_id)
        return super().itemChange(change, value)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        self.graph_scene.commit_moves()


class EdgeItem(QGraphicsPathItem):
    """A smooth curve from an output port to an input port, labelled with the tensor shape."""

    def __init__(self, scene: GraphScene, edge: Edge) -> None:
        super().__init__()
        self.graph_scene, self.edge = scene, edge
        self.label = ""
        self.hover = False  # a block being dragged would be inserted here
        self._shape = QPainterPath()
        self._key: tuple | None = None
        self._bounds = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.update_path()

    def update_label(self) -> None:
        """Re-label when the shape on the edge changed."""
        info = self.graph_scene.document.report.nodes.get(self.edge.src)
        label = shape_text(info.shape) if info and info.shape is not None else ""
        if label != self.label:
            self.label = label
            self.update()

    def update_path(self) -> None:
        """Re-route when an end moved, and re-label."""
        nodes = self.graph_scene.node_items
        src, dst = nodes[self.edge.src], nodes[self.edge.dst]
        a = src.mapToScene(src.output_port())
        b = dst.mapToScene(dst.input_port(self.edge.port))
        key = (a.x(), a.y(), b.x(), b.y())
        if key != self._key:
            self._key = key
            dy = max(40.0, abs(b.y() - a.y()) / 2)
            path = QPainterPath(a)
            path.cubicTo(a + QPointF(0, dy), b - QPointF(0, dy), b)
            self.prepareGeometryChange()
            self.setPath(path)
            stroker = QPainterPathStroker()
            stroker.setWidth(12.0)
            self._shape = stroker.createStroke(path)
            self._bounds = self._shape.boundingRect().adjusted(0, 0, 90, 10)  # and the label
        self.update_label()

    def tooltip_text(self) -> str:
        e = self.edge
        return f"{e.src} → {e.dst} (port {e.port}): {self.label or 'no shape'}"

    def shape(self) -> QPainterPath:
        """The stroke (12 px wide), not the area the curve encloses: clicks and drops hit
        the line itself."""
        return self._shape

    def boundingRect(self) -> QRectF:
        return self._bounds

    def set_hover(self, hover: bool) -> None:
        if hover != self.hover:
            self.hover = hover
            self.update()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        theme = self.graph_scene.theme
        colour = QColor(HOVER) if (self.isSelected() or self.hover) else QColor(theme.edge)
        painter.setPen(QPen(colour, 4.0 if self.hover else 2.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if self.label:
            mid = self.path().pointAtPercent(0.5)
            painter.setPen(QColor(theme.edge_label))
            font = QFont(painter.font().family(), max(7, painter.font().pointSize() - 1))
            painter.setFont(font)
            painter.drawText(mid + QPointF(6, 4), self.label)


class GraphScene(QGraphicsScene):
    """Mirrors the document's graph; dragging from an output port to an input port connects."""

    message = Signal(str)  # for the status bar (e.g. why a connection was refused)
    node_activated = Signal(str)  # double-click on a block

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.document = document
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self.node_edges: dict[str, list[EdgeItem]] = {}  # edges to re-route when a node moves
        self._syncing = False
        self._drag_from: str | None = None
        self._drag_line: QGraphicsPathItem | None = None
        self._seen: tuple[int, int] | None = None  # graph versions the items reflect
        self.show_grid = True
        self.theme = LIGHT
        self.set_theme(CanvasTheme.for_palette(QGuiApplication.palette()))
        document.changed.connect(self.sync)
        self.sync()

    def set_theme(self, theme: CanvasTheme) -> None:
        self.theme = theme
        self.setBackgroundBrush(QColor(theme.background))
        for item in self.items():
            item.update()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        """Background colour and a grid (minor lines only when zoomed in enough to see them)."""
        painter.fillRect(rect, QColor(self.theme.background))
        if not self.show_grid:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # 1-px lines: 5× faster
        scale = painter.transform().m11()
        for step, colour, visible in (
            (GRID, self.theme.grid_minor, scale >= 0.6),
            (GRID * 5, self.theme.grid_major, scale >= 0.15),
        ):
            if not visible:
                continue
            painter.setPen(QPen(QColor(colour), 0))
            left, top = math.floor(rect.left() / step) * step, math.floor(rect.top() / step) * step
            lines = [
                QLineF(x, rect.top(), x, rect.bottom()) for x in _frange(left, rect.right(), step)
            ]
            lines += [
                QLineF(rect.left(), y, rect.right(), y) for y in _frange(top, rect.bottom(), step)
            ]
            painter.drawLines(lines)

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:
        """Tooltips are built when asked for, not after every edit for every item."""
        for item in self.items(event.scenePos()):
            if isinstance(item, NodeItem | EdgeItem):
                QToolTip.showText(event.screenPos(), item.tooltip_text())
                event.accept()
                return
        QToolTip.hideText()

    def set_layer_stats(self, stats: dict | None) -> None:
        """Heat strips from a run's per-layer statistics (None clears them and NaN marks)."""
        for node_id, item in self.node_items.items():
            stat = stats.get(node_id) if stats else None
            if stats is None and item.nonfinite:
                item.nonfinite = False
                item.update()
            if stat != item.stat:
                item.stat = stat
                item.update()

    def mark_nonfinite(self, node_id: str) -> None:
        item = self.node_items.get(node_id)
        if item is not None:
            item.nonfinite = True
            item.update()

    def edge_at(self, pos: QPointF) -> EdgeItem | None:
        for item in self.items(pos):
            if isinstance(item, EdgeItem):
                return item
        return None

    # ------------------------------------------------------------- model → items
    def sync(self) -> None:
        """Bring items in line with the graph (cheap: only differences are touched)."""
        self._syncing = True  # positions set below must not re-route stale edges
        try:
            self._sync()
        finally:
            self._syncing = False

    def _sync(self) -> None:
        graph = self.document.graph
        touched: set[str] = set()  # moved or new nodes: their edges need re-routing
        seen = (graph.topology_version, graph.layout_version)
        if seen != self._seen:  # nodes or edges came, went or moved
            self._seen = seen
            self._sync_items(graph, touched)
        # Repaint and re-route only what changed: an edit in a 600-node graph touches a few
        # items, not all of them (bench/canvas.py).
        report = self.document.report
        errors = {p.node_id: p.message for p in report.errors if p.node_id}
        redrawn: list[str] = []  # their outgoing edges may carry a new shape
        for node_id, item in self.node_items.items():
            node = graph.node(node_id)
            info = report.nodes.get(node_id)
            state = (errors.get(node_id, ""), info, node.label, node.params)
            if state == item.state:
                continue
            item.state = (state[0], info, node.label, dict(node.params))
            item.error = state[0]
            item.update()
            redrawn.append(node_id)
            ports = item.n_inputs()
            if ports != item.ports:  # input ports moved (Add/Concat with more inputs)
                item.ports = ports
                touched.add(node_id)
        for edge_item in {e for n in touched for e in self.node_edges[n]}:
            edge_item.update_path()
        for node_id in redrawn:
            for edge_item in self.node_edges[node_id]:
                if edge_item.edge.src == node_id:
                    edge_item.update_label()

    def _grow_scene_rect(self) -> None:
        """Keep a wide margin around the graph, so dragging near its edge does not grow the
        scene (and repaint the whole view) at every mouse move."""
        positions = [n.position for n in self.document.graph.nodes.values()]
        if not positions:
            return
        xs, ys = [p[0] for p in positions], [p[1] for p in positions]
        items = QRectF(QPointF(min(xs), min(ys)), QPointF(max(xs) + NODE_W, max(ys) + NODE_H))
        if not self.sceneRect().contains(items.adjusted(-400, -400, 400, 400)):
            self.setSceneRect(items.adjusted(-1500, -1500, 1500, 1500))

    def _sync_items(self, graph: Graph, touched: set[str]) -> None:
        for node_id in list(self.node_items):
            if node_id not in graph:
                self.removeItem(self.node_items.pop(node_id))
        for node in graph.nodes.values():
            item = self.node_items.get(node.id)
            if item is None:
                item = self.node_items[node.id] = NodeItem(self, node.id)
                self.addItem(item)
            pos = item.pos()
            if (pos.x(), pos.y()) != node.position:
                item.setPos(QPointF(*node.position))
                touched.add(node.id)
        edges = set(graph.edges())
        for edge in list(self.edge_items):
            if edge not in edges:
                self.removeItem(self.edge_items.pop(edge))
        for edge in edges:
            if edge not in self.edge_items:
                self.edge_items[edge] = EdgeItem(self, edge)
                self.addItem(self.edge_items[edge])
        self.node_edges = {n: [] for n in self.node_items}
        for edge, edge_item in self.edge_items.items():
            self.node_edges[edge.src].append(edge_item)
            self.node_edges[edge.dst].append(edge_item)
        self._grow_scene_rect()

    def commit_moves(self) -> None:
        """One Move command for everything dragged (built on mouse release)."""
        moves = {}
        for node_id, item in self.node_items.items():
            pos = (item.pos().x(), item.pos().y())
            if pos != self.document.graph.node(node_id).position:
                moves[node_id] = pos
        if moves:
            self.document.move(moves)

    def node_moved(self, node_id: str) -> None:
        """Re-route only the edges of a node being dragged."""
        if not self._syncing:
            for edge_item in self.node_edges.get(node_id, ()):
                edge_item.update_path()

    # ------------------------------------------------------------- connecting
    def node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        item = self.node_at(event.scenePos())
        port = item.port_at(event.scenePos()) if item else None
        if item and port and port[0] == "out" and event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = item.node_id
            self._drag_line = QGraphicsPathItem()
            self._drag_line.setPen(QPen(QColor("#f5a700"), 2, Qt.PenStyle.DashLine))
            self.addItem(self._drag_line)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._drag_from and self._drag_line:
            src = self.node_items[self._drag_from]
            path = QPainterPath(src.mapToScene(src.output_port()))
            path.lineTo(event.scenePos())
            self._drag_line.setPath(path)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._drag_from:
            src = self._drag_from
            self._drag_from = None
            if self._drag_line:
                self.removeItem(self._drag_line)
                self._drag_line = None
            target = self.node_at(event.scenePos())
            port = target.port_at(event.scenePos()) if target else None
            if target and port and port[0] == "in":
                self.try_connect(src, target.node_id, port[1])
            else:
                self.message.emit("drop the connection on an input port (top of a block)")
            return
        super().mouseReleaseEvent(event)

    def try_connect(self, src: str, dst: str, port: int | None = None) -> bool:
        from app.core.errors import GraphError

        try:
            self.document.connect(src, dst, port)
        except GraphError as exc:
            self.message.emit(f"cannot connect: {exc}")
            return False
        self.message.emit(f"connected {src} → {dst}")
        return True

    def selected_node_ids(self) -> list[str]:
        """Selected nodes in graph order (Qt's selection order depends on its spatial index)."""
        chosen = {i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)}
        return [n for n in self.document.graph.nodes if n in chosen]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]


def _frange(start: float, stop: float, step: float) -> list[float]:
    return [start + i * step for i in range(int((stop - start) / step) + 1)]


class GraphView(QGraphicsView):
    """Zoom with the wheel, pan with the middle button or space + drag, F fits the graph."""

    def __init__(self, scene: GraphScene) -> None:
        super().__init__(scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._panning: QPointF | None = None
        self._space = False
        QShortcut(QKeySequence("F"), self, activated=self.fit)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True  # space + left drag pans, as in drawing tools (even over blocks)
            self.setInteractive(False)
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.setInteractive(True)
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        if self._space:  # the key release went elsewhere
            self._space = False
            self.setInteractive(True)
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        super().focusOutEvent(event)

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect().adjusted(-40, -40, 40, 40)
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.transform().m11() > 1.5:
                self.resetTransform()
                self.centerOn(rect.center())

    def wheelEvent(self, event) -> None:
        factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
        self.scale(factor, factor)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._panning = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self._panning = None
            self.unsetCursor()
            return
        super().mouseReleaseEvent(event)
