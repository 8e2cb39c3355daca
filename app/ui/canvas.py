"""The graph canvas: a QGraphicsScene that mirrors the document's graph and a view with zoom,
pan and fit. Items hold no logic: edits go through the document's commands."""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QPainter,
    QPainterPath,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneHelpEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QToolTip,
)

from app.core.graph import Edge, Graph, stage_of
from app.ui.canvas_items import (
    DARK,
    GRID,
    LIGHT,
    NODE_H,
    NODE_W,
    CanvasTheme,
    EdgeItem,
    GroupItem,
    NodeItem,
    category_colour,
    heat_colour,
)
from app.ui.document import Document

__all__ = [
    "DARK",
    "LIGHT",
    "CanvasTheme",
    "EdgeItem",
    "GraphScene",
    "GraphView",
    "NodeItem",
    "category_colour",
    "heat_colour",
]


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
        self.collapsed: set[str] = set()  # stages shown as one box (GroupItem)
        self.group_items: dict[str, GroupItem] = {}  # frames of the module-path stages
        self.group_of: dict[str, str] = {}  # node id → its stage
        self._paths: tuple[str, ...] | None = None
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
        if stats is None:
            self.clear_nonfinite()
        for node_id, item in self.node_items.items():
            stat = stats.get(node_id) if stats else None
            if stat != item.stat:
                item.stat = stat
                item.update()

    def set_diff(self, marks: dict[str, tuple[str, str]]) -> None:
        """Mark the blocks a graph diff names (added, changed, removed); others unmarked."""
        for node_id, item in self.node_items.items():
            mark = marks.get(node_id)
            if mark != item.diff:
                item.diff = mark
                item.update()

    def clear_nonfinite(self) -> None:
        for item in self.node_items.values():
            if item.nonfinite:
                item.nonfinite = False
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
        paths = tuple(n.path for n in graph.nodes.values())
        if seen != self._seen:  # nodes or edges came, went or moved
            self._seen = seen
            self._sync_items(graph, touched)
            self._sync_groups(graph)
        elif paths != self._paths:
            self._sync_groups(graph)
        self._paths = paths
        # Repaint and re-route only what changed: an edit in a 600-node graph touches a few
        # items, not all of them (bench/canvas.py).
        report = self.document.report
        errors = {p.node_id: p.message for p in report.errors if p.node_id}
        redrawn: list[str] = []  # their outgoing edges may carry a new shape
        for node_id, item in self.node_items.items():
            node = graph.node(node_id)
            info = report.nodes.get(node_id)
            state = (errors.get(node_id, ""), info, node.label, node.params, node.learning)
            if state == item.state:
                continue
            item.state = (state[0], info, node.label, dict(node.params), node.learning)
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

    def _sync_groups(self, graph: Graph) -> None:
        """One frame per stage (first part of the module paths) with two or more blocks."""
        members: dict[str, list[str]] = {}
        for node in graph.nodes.values():
            if stage_of(node.path):
                members.setdefault(stage_of(node.path), []).append(node.id)
        stages = {name: ids for name, ids in members.items() if len(ids) > 1}
        for name in list(self.group_items):
            if name not in stages:
                self.removeItem(self.group_items.pop(name))
        self.group_of = {nid: name for name, ids in stages.items() for nid in ids}
        for name in stages:
            item = self.group_items.get(name)
            if item is None:
                item = self.group_items[name] = GroupItem(self, name)
                self.addItem(item)
            self._fit_group(name)
        if self.collapsed:
            self._apply_collapse()

    def _fit_group(self, name: str) -> None:
        ids = self.members(name)
        rects = [self.node_items[nid].sceneBoundingRect() for nid in ids]
        self.group_items[name].fit(rects, len(ids))

    def members(self, name: str) -> list[str]:
        """The node ids of a stage, in the graph's order."""
        return [nid for nid, group in self.group_of.items() if group == name]

    # ------------------------------------------------------------- collapsed stages
    def toggle_group(self, name: str) -> None:
        """Collapse a stage to one box, or open it again (a view setting: the graph and the
        undo history do not change)."""
        self.collapsed ^= {name}
        self._apply_collapse()

    def set_all_collapsed(self, collapsed: bool) -> None:
        self.collapsed = set(self.group_items) if collapsed else set()
        self._apply_collapse()

    def _apply_collapse(self) -> None:
        self.collapsed &= set(self.group_items)
        for nid, item in self.node_items.items():
            hidden = self.group_of.get(nid) in self.collapsed
            item.setVisible(not hidden)
            if hidden:
                item.setSelected(False)
        for name, group in self.group_items.items():
            group.set_collapsed(name in self.collapsed)
            self._fit_group(name)
        for edge, edge_item in self.edge_items.items():
            inside = self.group_of.get(edge.src)
            edge_item.setVisible(
                not (inside in self.collapsed and inside == self.group_of.get(edge.dst))
            )
            edge_item.update_path()

    def _collapsed_group(self, node_id: str) -> GroupItem | None:
        name = self.group_of.get(node_id)
        return self.group_items[name] if name in self.collapsed else None

    def out_anchor(self, node_id: str) -> QPointF:
        """Where an edge leaves ``node_id``: its output port, or its collapsed stage's box."""
        group = self._collapsed_group(node_id)
        if group is not None:
            return group.out_port()
        item = self.node_items[node_id]
        return item.mapToScene(item.output_port())

    def in_anchor(self, node_id: str, port: int) -> QPointF:
        group = self._collapsed_group(node_id)
        if group is not None:
            return group.in_port()
        item = self.node_items[node_id]
        return item.mapToScene(item.input_port(port))

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
            group = self.group_of.get(node_id)
            if group is not None:  # the frame follows its blocks
                self._fit_group(group)

    # ------------------------------------------------------------- connecting
    def group_at(self, pos: QPointF) -> GroupItem | None:
        """The stage whose frame holds ``pos`` (anywhere inside, not only its title)."""
        for item in self.group_items.values():
            if item.isVisible() and item.frame.contains(item.mapFromScene(pos)):
                return item
        return None

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


#: below this a block's text is unreadable (about 5 px): fit scrolls instead
MIN_FIT_SCALE = 0.6


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

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_F and not event.modifiers():
            self.fit()  # in a dialog; in the main window View → Fit to Window (F) takes it first
            return
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
        """The whole graph in view, at most at 1.5× and at least at MIN_FIT_SCALE (text
        stays readable: a tall chain then shows its top, and scrolls). Until the user zooms,
        the view fits again when it is resized (the window's first layout made LeNet tiny)."""
        rect = self.scene().itemsBoundingRect().adjusted(-40, -40, 40, 40)
        self._auto_fit = True
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        scale = self.transform().m11()
        if scale > 1.5 or scale < MIN_FIT_SCALE:
            self.resetTransform()
            if scale > 1.5:
                self.centerOn(rect.center())
            else:
                self.scale(MIN_FIT_SCALE, MIN_FIT_SCALE)
                visible = self.mapToScene(self.viewport().rect()).boundingRect()
                self.centerOn(rect.center().x(), rect.top() + visible.height() / 2)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if getattr(self, "_auto_fit", False):
            self.fit()

    def wheelEvent(self, event) -> None:
        factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
        self._auto_fit = False  # the user's zoom stays
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
