"""What the canvas draws: blocks (NodeItem) and connections (EdgeItem), the canvas colours
for light and dark palettes, and the heat colour of training diagnostics. Items hold no logic:
they read the document and paint; edits go through the document's commands."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.core.graph import Edge, Learning
from blocks import shape_text
from blocks.expansion import can_expand

if TYPE_CHECKING:
    from app.ui.canvas import GraphScene

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
    "Opaque": "#5a5a5a",
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
#: a graph diff's marks (the comparison view)
DIFF_COLOURS = {"added": "#2e7d32", "changed": "#ef6c00", "removed": "#c62828"}


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
        self.diff: tuple[str, str] | None = None  # (added|changed|removed, what) in a diff view

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
        pen = QPen(border, 3 if (self.error or self.isSelected()) else 1.5)
        opaque = not block.palette  # a module kept whole by an import: dashed, hatched
        if opaque:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(QColor(theme.node)))
        painter.drawRoundedRect(QRectF(0, 0, NODE_W, NODE_H), 7, 7)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(colour, Qt.BrushStyle.BDiagPattern) if opaque else colour)
        painter.drawRoundedRect(QRectF(0, 0, 8 if not opaque else 12, NODE_H), 3, 3)
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
        detail = " · ".join(
            t for t in (node.label or node.path or node.id, block.summary(node.params)) if t
        )
        detail = QFontMetrics(small).elidedText(detail, Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(14, 22, width, 16), Qt.AlignmentFlag.AlignLeft, detail)
        shape = (
            shape_text(info.shape)
            if info and info.shape is not None
            else ("error" if self.error else "?")
        )
        painter.setPen(QColor(ERROR) if self.error else QColor(theme.shape))
        painter.drawText(QRectF(14, 40, width, 16), Qt.AlignmentFlag.AlignLeft, f"→ {shape}")
        if info is not None and info.params:  # a layer without weights has nothing to freeze
            self._paint_learning(painter, node.learning, theme)
        if self.stat is not None:  # training diagnostics: update/weight ratio as a heat strip
            locked = bool(info and info.params) and not node.learning.trainable
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(heat_colour(self.stat.update_ratio))
            left = NODE_W - 58 - (16 if locked else 0)  # left of a padlock, not under it
            painter.drawRoundedRect(QRectF(left, NODE_H - 15, 50, 10), 3, 3)
        if self.diff is not None:  # a comparison's graph diff: a coloured frame and a sign
            kind = self.diff[0]
            style = Qt.PenStyle.DashLine if kind == "removed" else Qt.PenStyle.SolidLine
            painter.setPen(QPen(QColor(DIFF_COLOURS[kind]), 4, style))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(-4, -4, NODE_W + 8, NODE_H + 8), 10, 10)
            painter.setPen(QColor(DIFF_COLOURS[kind]))
            sign = {"added": "+", "changed": "~", "removed": "−"}[kind]
            painter.drawText(QRectF(NODE_W - 24, 40, 18, 16), Qt.AlignmentFlag.AlignRight, sign)
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

    def _paint_learning(self, painter: QPainter, learning: Learning, theme: CanvasTheme) -> None:
        """A padlock at the bottom right of a frozen block; its learning-rate multiplier
        (lr×0.1) at the right of the shape's line when it trains with one."""
        x = NODE_W - 20
        if not learning.trainable:
            painter.save()
            painter.setPen(QPen(QColor(theme.text), 1.6))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawArc(QRectF(x + 3, NODE_H - 21, 8, 10), 0, 180 * 16)  # the shackle
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(theme.text))
            painter.drawRoundedRect(QRectF(x + 1, NODE_H - 16, 12, 9), 2, 2)
            painter.restore()
        if learning.trainable and learning.lr_mult != 1:  # frozen, it has nothing to scale
            painter.setPen(QColor(theme.detail))
            painter.drawText(
                QRectF(NODE_W - 68, 40, 60, 16),
                Qt.AlignmentFlag.AlignRight,
                f"lr×{learning.lr_mult:g}",
            )

    def tooltip_text(self) -> str:
        """The error, or the output-size formulas with numbers (built when hovered)."""
        if self.error:
            return self.error
        lines = []
        if self.diff is not None:
            lines.append(f"{self.diff[0]}: {self.diff[1]}" if self.diff[0] == "changed"
                         else self.diff[1])  # fmt: skip
        if self.nonfinite:
            lines.append("the first layer that produced NaN/Inf in the last run")
        if self.stat is not None:
            s = self.stat
            lines.append(
                f"training: grad norm {s.grad_norm:.3g}, update/weight {s.update_ratio:.2e} "
                "(about 1e-3 is healthy)"
            )
        node = self.graph_scene.document.graph.node(self.node_id)
        if not node.learning.trainable:
            lines.append("frozen: its weights do not train (BatchNorm keeps its statistics)")
        if node.learning.lr_mult != 1:
            lines.append(f"learning rate ×{node.learning.lr_mult:g}")
        if node.type_id == "opaque":
            lines.append(f"opaque module {node.params['target']}: its inside is not editable")
            if node.params["reason"]:
                lines.append(f"kept whole because no block computes {node.params['reason']}")
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
        self._shape: QPainterPath | None = QPainterPath()
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
        a = self.graph_scene.out_anchor(self.edge.src)
        b = self.graph_scene.in_anchor(self.edge.dst, self.edge.port)
        key = (a.x(), a.y(), b.x(), b.y())
        if key != self._key:
            self._key = key
            dy = max(40.0, abs(b.y() - a.y()) / 2)
            path = QPainterPath(a)
            path.cubicTo(a + QPointF(0, dy), b - QPointF(0, dy), b)
            self.prepareGeometryChange()
            self.setPath(path)
            self._shape = None  # stroked when first hit-tested: half of building a scene
            # the curve lies in its control points' box; 6 px for the stroke, and the label
            self._bounds = path.controlPointRect().adjusted(-6, -6, 96, 16)
        self.update_label()

    def tooltip_text(self) -> str:
        e = self.edge
        return f"{e.src} → {e.dst} (port {e.port}): {self.label or 'no shape'}"

    def shape(self) -> QPainterPath:
        """The stroke (12 px wide), not the area the curve encloses: clicks and drops hit
        the line itself."""
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(12.0)
            self._shape = stroker.createStroke(self.path())
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


class GroupItem(QGraphicsItem):
    """A titled frame behind the blocks of one stage: the nodes whose module paths share a
    first part (``layer1`` for ``layer1.0.conv1``), as an imported model groups them. A click
    on the title collapses the stage to one box showing its input and output shapes and its
    parameters (its blocks hidden, its edges meeting the box); a click on the box opens it."""

    MARGIN, TITLE = 14.0, 22.0
    SIDE = 40.0  # room for the title in the left half of the top margin

    def __init__(self, scene: GraphScene, name: str) -> None:
        super().__init__()
        self.canvas = scene
        self.name = name
        self.members = 0
        self.collapsed = False
        self.frame = QRectF()
        self.setZValue(-10)  # behind edges and blocks
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)  # on the title (see shape)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._tip()

    def _tip(self) -> None:
        action = "open it" if self.collapsed else "collapse it to one box"
        self.setToolTip(f"{self.name}: click to {action}")

    def fit(self, rects: list[QRectF], members: int) -> None:
        """Frame ``rects`` (the members' blocks); collapsed, the box takes the first one's
        place."""
        if self.collapsed:
            frame = QRectF(rects[0].topLeft(), QSizeF(NODE_W, NODE_H)).translated(PORT_R, PORT_R)
        else:
            frame = QRectF(rects[0])
            for r in rects[1:]:
                frame = frame.united(r)
            frame = frame.adjusted(-self.SIDE, -self.MARGIN - self.TITLE, self.SIDE, self.MARGIN)
        if frame != self.frame or members != self.members:
            self.prepareGeometryChange()
            self.frame, self.members = frame, members
            self.update()

    def set_collapsed(self, collapsed: bool) -> None:
        if collapsed != self.collapsed:
            self.prepareGeometryChange()
            self.collapsed = collapsed
            self.setZValue(1 if collapsed else -10)  # a box is drawn like a block
            self._tip()
            self.update()

    def in_port(self) -> QPointF:
        return QPointF(self.frame.center().x(), self.frame.top())

    def out_port(self) -> QPointF:
        return QPointF(self.frame.center().x(), self.frame.bottom())

    def boundingRect(self) -> QRectF:
        return self.frame.adjusted(-1, -1, 1, 1)

    def shape(self) -> QPainterPath:
        """What a click hits: the whole box when collapsed, only the title when open (a
        click elsewhere in the frame reaches the canvas: rubber-band selection)."""
        path = QPainterPath()
        if self.collapsed:
            path.addRect(self.frame)
        else:
            path.addRect(QRectF(self.frame.left(), self.frame.top(), self.frame.width() / 2, 24))
        return path

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        event.accept()

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.shape().contains(event.pos()):
            self.canvas.toggle_group(self.name)

    def summary(self) -> tuple[str, str]:
        """('N blocks · P parameters', 'in → out') from the shape report."""
        doc = self.canvas.document
        ids = self.canvas.members(self.name)
        report = doc.report
        params = sum(report.nodes[n].params for n in ids if n in report.nodes)
        inside = set(ids)
        ins = [e.src for e in doc.graph.edges() if e.dst in inside and e.src not in inside]
        outs = [e.src for e in doc.graph.edges() if e.src in inside and e.dst not in inside]

        def shape(nid: str | None) -> str:
            info = report.nodes.get(nid) if nid else None
            return shape_text(info.shape) if info and info.shape is not None else "?"

        return (
            f"{len(ids)} blocks · {params:,} params",
            f"{shape(ins[0] if ins else None)} → {shape(outs[0] if outs else None)}",
        )

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        theme = self.canvas.theme
        rim = QColor(theme.edge)
        font = QFont(painter.font())
        font.setBold(True)
        if self.collapsed:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(rim, 2.0))
            painter.setBrush(QBrush(QColor(theme.node)))
            painter.drawRoundedRect(self.frame, 7, 7)
            painter.setPen(QPen(rim, 1.0, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(self.frame.adjusted(3, 3, -3, -3), 5, 5)
            width = int(self.frame.width() - 20)
            lines = (f"▸ {self.name}", *self.summary())
            fonts = (font, QFont(painter.font()), QFont(painter.font()))
            small = fonts[1]
            small.setPointSizeF(max(6.0, small.pointSizeF() - 1.5))
            fonts = (font, small, small)
            colours = (theme.text, theme.detail, theme.shape)
            for row, (text, f, colour) in enumerate(zip(lines, fonts, colours, strict=True)):
                painter.setFont(f)
                painter.setPen(QColor(colour))
                shown = QFontMetrics(f).elidedText(text, Qt.TextElideMode.ElideRight, width)
                rect = QRectF(self.frame.left() + 10, self.frame.top() + 4 + row * 15, width, 16)
                painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft), shown)
            return
        fill = QColor(theme.node)
        fill.setAlpha(110)
        painter.setPen(QPen(rim, 1.2, Qt.PenStyle.DashLine))
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(self.frame, 10, 10)
        painter.setFont(font)
        painter.setPen(QColor(theme.detail))
        # the left half of the top margin: edges enter blocks at their middle
        width = self.frame.width() / 2 - 22
        title = QRectF(self.frame.left() + 10, self.frame.top() + 4, width, 18)
        text = QFontMetrics(font).elidedText(
            f"▾ {self.name} ({self.members})", Qt.TextElideMode.ElideRight, int(width)
        )
        painter.drawText(
            title, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text
        )
