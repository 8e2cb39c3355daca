"""The graph canvas: a QGraphicsScene that mirrors the document's graph and a view with zoom,
pan and fit. Items hold no logic: edits go through the document's commands."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
    QShortcut,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.core.graph import Edge
from app.ui.document import Document
from blocks import shape_text

NODE_W, NODE_H, PORT_R = 190.0, 62.0, 6.0
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
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = (
            QColor("#d0312d")
            if self.error
            else (QColor("#f5c518") if self.isSelected() else colour.darker(140))
        )
        painter.setPen(QPen(border, 3 if (self.error or self.isSelected()) else 1.5))
        painter.setBrush(QBrush(QColor("#fbfbfd")))
        painter.drawRoundedRect(QRectF(0, 0, NODE_W, NODE_H), 7, 7)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRectF(0, 0, 8, NODE_H), 3, 3)
        width = int(NODE_W - 20)
        bold = QFont(painter.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor("#1d1d24"))
        title = QFontMetrics(bold).elidedText(block.title, Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(14, 3, width, 18), Qt.AlignmentFlag.AlignLeft, title)
        small = QFont(painter.font().family(), max(7, painter.font().pointSize() - 1))
        painter.setFont(small)
        painter.setPen(QColor("#4a4a55"))
        detail = " · ".join(t for t in (node.label or node.id, block.summary(node.params)) if t)
        detail = QFontMetrics(small).elidedText(detail, Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(14, 22, width, 16), Qt.AlignmentFlag.AlignLeft, detail)
        shape = (
            shape_text(info.shape)
            if info and info.shape is not None
            else ("error" if self.error else "?")
        )
        painter.setPen(QColor("#d0312d") if self.error else QColor("#22663a"))
        painter.drawText(QRectF(14, 40, width, 16), Qt.AlignmentFlag.AlignLeft, f"→ {shape}")
        painter.setPen(QPen(QColor("#333333"), 1))
        for i in range(self.n_inputs()):
            painter.setBrush(QColor("#ffffff"))
            painter.drawEllipse(self.input_port(i), PORT_R, PORT_R)
        if node.type_id != "output":
            painter.setBrush(colour)
            painter.drawEllipse(self.output_port(), PORT_R, PORT_R)

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
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.update_path()

    def update_path(self) -> None:
        nodes = self.graph_scene.node_items
        src, dst = nodes[self.edge.src], nodes[self.edge.dst]
        a = src.mapToScene(src.output_port())
        b = dst.mapToScene(dst.input_port(self.edge.port))
        dy = max(40.0, abs(b.y() - a.y()) / 2)
        path = QPainterPath(a)
        path.cubicTo(a + QPointF(0, dy), b - QPointF(0, dy), b)
        self.setPath(path)
        info = self.graph_scene.document.report.nodes.get(self.edge.src)
        self.label = shape_text(info.shape) if info and info.shape is not None else ""
        self.setToolTip(
            f"{self.edge.src} → {self.edge.dst} (port {self.edge.port}): {self.label or 'no shape'}"
        )

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = QColor("#f5a700") if self.isSelected() else QColor("#7c8594")
        painter.setPen(QPen(colour, 2.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        if self.label:
            mid = self.path().pointAtPercent(0.5)
            painter.setPen(QColor("#2d3340"))
            font = QFont(painter.font().family(), max(7, painter.font().pointSize() - 1))
            painter.setFont(font)
            painter.drawText(mid + QPointF(6, 4), self.label)


class GraphScene(QGraphicsScene):
    """Mirrors the document's graph; dragging from an output port to an input port connects."""

    message = Signal(str)  # for the status bar (e.g. why a connection was refused)

    def __init__(self, document: Document) -> None:
        super().__init__()
        self.document = document
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[Edge, EdgeItem] = {}
        self.node_edges: dict[str, list[EdgeItem]] = {}  # edges to re-route when a node moves
        self._syncing = False
        self._drag_from: str | None = None
        self._drag_line: QGraphicsPathItem | None = None
        self.setBackgroundBrush(QColor("#eef0f4"))
        document.changed.connect(self.sync)
        self.sync()

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
        for node_id in list(self.node_items):
            if node_id not in graph:
                self.removeItem(self.node_items.pop(node_id))
        for node in graph.nodes.values():
            item = self.node_items.get(node.id)
            if item is None:
                item = self.node_items[node.id] = NodeItem(self, node.id)
                self.addItem(item)
            if item.pos() != QPointF(*node.position):
                item.setPos(QPointF(*node.position))
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
        errors = {p.node_id: p.message for p in self.document.report.errors if p.node_id}
        for node_id, item in self.node_items.items():
            item.error = errors.get(node_id, "")
            info = self.document.report.nodes.get(node_id)
            tip = item.error or "\n".join(str(f) for f in (info.formulas if info else ()))
            item.setToolTip(tip or node_id)
            item.update()
        for edge_item in self.edge_items.values():
            edge_item.update_path()

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


class GraphView(QGraphicsView):
    """Zoom with the wheel, pan with the middle button, F fits the graph."""

    def __init__(self, scene: GraphScene) -> None:
        super().__init__(scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._panning: QPointF | None = None
        QShortcut(QKeySequence("F"), self, activated=self.fit)

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
