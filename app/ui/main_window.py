"""The main window: canvas in the centre, palette, inspector and problems around it."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
)

from app.core.edits import ExpansionError
from app.core.errors import GraphError
from app.core.serialization import Project, ProjectFileError
from app.ui import file_names, warm_up
from app.ui.autosave import Autosaver, RecentFiles, recover, recoverable
from app.ui.canvas import EdgeItem, GraphScene, GraphView
from app.ui.canvas_items import NODE_H, NODE_W
from app.ui.canvas_tools import IMAGE_FILTER, InsideDialog, export_image
from app.ui.document import Document, fragment
from app.ui.fine_tune_actions import FineTuningActions
from app.ui.info_panels import CodePanel, CostLabel, SummaryTable
from app.ui.panels import BLOCK_MIME, Inspector, Palette, ProblemsPanel
from app.ui.training.panel import TrainingPanel
from blocks.expansion import can_expand

FILE_FILTER = "NetBuilder projects (*.json);;All files (*)"


class CanvasView(GraphView):
    """The graph view, accepting blocks dropped from the palette."""

    def __init__(self, scene: GraphScene, window: MainWindow) -> None:
        super().__init__(scene)
        self.window_ = window
        self.setAcceptDrops(True)

        self._hover_edge: EdgeItem | None = None

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(BLOCK_MIME):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        """Highlight the connection the block would be inserted on."""
        if not event.mimeData().hasFormat(BLOCK_MIME):
            return
        event.acceptProposedAction()
        edge = self.graph_scene().edge_at(self.mapToScene(event.position().toPoint()))
        self._set_hover(edge)

    def dragLeaveEvent(self, event) -> None:
        self._set_hover(None)

    def _set_hover(self, edge: EdgeItem | None) -> None:
        if self._hover_edge is not None and self._hover_edge is not edge:
            self._hover_edge.set_hover(False)
        self._hover_edge = edge
        if edge is not None:
            edge.set_hover(True)

    def graph_scene(self) -> GraphScene:
        return self.scene()  # type: ignore[return-value]

    def dropEvent(self, event) -> None:
        """Dropped on a connection: insert the block there; elsewhere: add it."""
        self._set_hover(None)
        type_id = bytes(event.mimeData().data(BLOCK_MIME)).decode()
        pos = self.mapToScene(event.position().toPoint())
        edge = self.graph_scene().edge_at(pos)
        if edge is not None:
            self.window_.insert_block(type_id, edge.edge, pos)
        else:
            self.window_.add_block(type_id, pos)
        event.acceptProposedAction()

    def contextMenuEvent(self, event) -> None:
        pos = self.mapToScene(event.pos())
        scene = self.graph_scene()
        node = scene.node_at(pos)
        edge = None if node else scene.edge_at(pos)
        menu = QMenu(self)
        if node is not None:
            if not node.isSelected():
                scene.clearSelection()
                node.setSelected(True)
            if can_expand(scene.document.graph.node(node.node_id).type_id):
                menu.addAction("Look Inside…", lambda: self.window_.look_inside(node.node_id))
                menu.addAction("Expand in Place", lambda: self.window_.expand(node.node_id))
            menu.addAction("Delete", self.window_.delete_selection)
            menu.addAction(
                "See Feature Maps…", lambda: self.window_.see_inside("features", node.node_id)
            )
            menu.addSeparator()
            frozen = not scene.document.graph.node(node.node_id).learning.trainable
            menu.addAction(
                "Unfreeze Selection" if frozen else "Freeze Selection",
                lambda: self.window_.set_frozen(scene.selected_node_ids(), not frozen),
            )
            menu.addAction(
                "Freeze Everything Up to Here", lambda: self.window_.freeze_up_to(node.node_id)
            )
            if scene.document.graph.frozen():
                menu.addAction("Unfreeze All", self.window_.unfreeze_all)
        elif edge is not None:
            menu.addAction("Delete Connection", lambda: scene.document.remove([], [edge.edge]))
        elif (group := scene.group_at(pos)) is not None:
            members = [n for n, g in scene.group_of.items() if g == group.name]
            frozen = all(not scene.document.graph.node(n).learning.trainable for n in members)
            verb = "Unfreeze" if frozen else "Freeze"
            menu.addAction(
                f"{verb} Stage {group.name}",
                lambda: self.window_.set_frozen(members, not frozen),
            )
            menu.addAction(
                f"Learning Rate of {group.name}…", lambda: self.window_.ask_lr_mult(members)
            )
        else:
            menu.addAction("Auto-Layout", self.window_.auto_layout)
            menu.addAction("Fit to Window", self.fit)
        menu.exec(event.globalPos())


OPEN_DELAY_MS = 10  # a preset chosen in the dialog opens this long after it closes
DEFAULT_SIZE = (1400, 860)


def initial_size() -> tuple[int, int]:
    """The window's first size: 1400×860, or the screen's free area where that is smaller
    (a 1366×768 laptop, a 1000×700 display): a window larger than the screen hides its right
    docks, the Inspector and Training, off the edge."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return DEFAULT_SIZE
    free = screen.availableGeometry()
    return min(DEFAULT_SIZE[0], free.width()), min(DEFAULT_SIZE[1], free.height())


class MainWindow(FineTuningActions, QMainWindow):
    def __init__(self, document: Document | None = None) -> None:
        super().__init__()
        self.resize(*initial_size())
        self.palette_panel = Palette()
        self.problems = ProblemsPanel()
        self.document = document or Document()
        self.inspector = Inspector(self.document)
        self.summary = SummaryTable(self.document)
        self.code = CodePanel(self.document)
        self.training = TrainingPanel(self.document)
        self.device_label = QLabel("device: not started")
        self.cost_label = CostLabel(self.document)  # the step's memory, before Start
        self.statusBar().addPermanentWidget(self.cost_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self._docks()
        self._actions()
        self.set_document(self.document)
        self.palette_panel.add_requested.connect(lambda t: self.add_from_palette(t))
        self.problems.node_activated.connect(self.focus_node)
        self.inspector.message.connect(self.statusBar().showMessage)
        self.training.results_tab.look_requested.connect(lambda view: self.see_inside(view))
        self.training.message.connect(self.statusBar().showMessage)
        self.training.running_changed.connect(self._training_running)
        self._pending_document: Document | None = None  # to show once the run has stopped
        self.training.controller.running_changed.connect(self._stopped_for_document)
        self.training.layer_stats.connect(lambda stats: self.scene.set_layer_stats(stats))
        self.training.nonfinite_node.connect(self._nonfinite)
        self.training.device_changed.connect(
            lambda device: self.device_label.setText(f"device: {device}")
        )
        self.autosaver = Autosaver(self)
        self._closing = False  # the user chose to close; waiting for the run to stop
        self.recent = RecentFiles()
        self._rebuild_recent()
        self.statusBar().showMessage("Ready")

    # ------------------------------------------------------------------ setup
    def _docks(self) -> None:
        self.docks: dict[str, QDockWidget] = {}
        for title, widget, area in (
            ("Blocks", self.palette_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            ("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea),
            ("Summary", self.summary, Qt.DockWidgetArea.BottomDockWidgetArea),
            ("Code", self.code, Qt.DockWidgetArea.RightDockWidgetArea),
            ("Training", self.training, Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[title] = dock
        self.docks["Summary"].visibilityChanged.connect(self.summary.catch_up)
        self.docks["Code"].visibilityChanged.connect(self.code.catch_up)
        self.docks["Training"].visibilityChanged.connect(self.training.on_visible)
        self.tabifyDockWidget(self.docks["Problems"], self.docks["Summary"])
        self.tabifyDockWidget(self.docks["Inspector"], self.docks["Code"])
        self.tabifyDockWidget(self.docks["Code"], self.docks["Training"])
        self.docks["Problems"].raise_()
        self.docks["Inspector"].raise_()
        self.resizeDocks(
            [self.docks["Blocks"], self.docks["Inspector"]], [230, 380], Qt.Orientation.Horizontal
        )
        self.resizeDocks([self.docks["Problems"]], [130], Qt.Orientation.Vertical)

    def _actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        edit_menu = self.menuBar().addMenu("&Edit")
        view_menu = self.menuBar().addMenu("&View")

        def action(menu, text: str, slot, shortcut=None) -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(shortcut)
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        action(file_menu, "&New", self.new_document, QKeySequence.StandardKey.New)
        action(file_menu, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        action(file_menu, "New from &Preset…", self.presets_dialog, QKeySequence("Ctrl+Shift+N"))
        action(file_menu, "&Import PyTorch Model…", self.import_dialog, QKeySequence("Ctrl+I"))
        self.recent_menu = file_menu.addMenu("Open &Recent")
        action(file_menu, "&Save", self.save, QKeySequence.StandardKey.Save)
        action(file_menu, "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        action(file_menu, "&Export Canvas Image…", self.export_image_dialog)
        file_menu.addSeparator()
        quit_keys = QKeySequence(QKeySequence.StandardKey.Quit)  # empty on some platforms
        action(
            file_menu,
            "&Quit",
            self.close,
            QKeySequence("Ctrl+Q") if quit_keys.isEmpty() else quit_keys,
        )
        self.undo_action = action(
            edit_menu,
            "&Undo",
            lambda: self.document.undo_stack.undo(),
            QKeySequence.StandardKey.Undo,
        )
        self.redo_action = action(
            edit_menu,
            "&Redo",
            lambda: self.document.undo_stack.redo(),
            QKeySequence.StandardKey.Redo,
        )
        edit_menu.addSeparator()
        action(edit_menu, "&Copy", self.copy_selection, QKeySequence.StandardKey.Copy)
        action(edit_menu, "&Paste", self.paste, QKeySequence.StandardKey.Paste)
        action(edit_menu, "D&uplicate", self.duplicate, QKeySequence("Ctrl+D"))
        action(edit_menu, "&Delete", self.delete_selection, QKeySequence.StandardKey.Delete)
        action(
            edit_menu,
            "Select &All",
            lambda: [i.setSelected(True) for i in self.scene.items()],
            QKeySequence.StandardKey.SelectAll,
        )
        train_menu = self.menuBar().addMenu("&Train")
        action(train_menu, "&Start Training", self._start_training, QKeySequence("F5"))
        action(train_menu, "&Pause / Resume", self.training.toggle_pause, QKeySequence("F6"))
        action(train_menu, "S&top", self.training.stop, QKeySequence("Shift+F5"))
        train_menu.addSeparator()
        action(train_menu, "&Fine-tune a Pretrained Network…", self.fine_tune_dialog)
        action(train_menu, "See &Inside…", lambda: self.see_inside())
        train_menu.addSeparator()
        action(train_menu, "New &Experiment…", self._new_experiment)
        action(train_menu, "&Compare Ticked Runs…", self.training.compare_ticked)
        action(view_menu, "&Fit to Window", lambda: self.view.fit(), QKeySequence("F"))
        action(view_menu, "Auto-&Layout", self.auto_layout, QKeySequence("Ctrl+L"))
        action(view_menu, "&Collapse All Stages", lambda: self.scene.set_all_collapsed(True))
        action(view_menu, "&Open All Stages", lambda: self.scene.set_all_collapsed(False))
        self.grid_action = action(view_menu, "Show &Grid", self._toggle_grid)
        self.grid_action.setCheckable(True)
        self.grid_action.setChecked(True)
        action(edit_menu, "E&xpand Block", self._expand_selected, QKeySequence("Ctrl+E"))

    def set_document(self, document: Document) -> None:
        """Show ``document``: a new scene in the same view (docks keep their sizes). A run
        in progress is stopped first (its checkpoint is kept), without blocking the window:
        the document shows once the training process has ended (joining it here held the
        window for the second the engine takes to stop)."""
        if hasattr(self, "scene") and self.training.controller.running:
            self._open_after_stop(document)
            return
        old_document, old_scene = getattr(self, "document", None), getattr(self, "scene", None)
        self.document = document
        document.setParent(self)
        self.scene = GraphScene(document)
        self.scene.setParent(self)
        if not hasattr(self, "view"):
            self.view = CanvasView(self.scene, self)
            self.setCentralWidget(self.view)
        else:
            self.view.setScene(self.scene)
        if old_scene is not None:
            old_scene.deleteLater()
        if old_document is not None and old_document is not document:
            old_document.dispose()
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.message.connect(self.statusBar().showMessage)
        self.scene.node_activated.connect(self._node_activated)
        if hasattr(self, "grid_action"):
            self.scene.show_grid = self.grid_action.isChecked()
        document.checked.connect(self.problems.show_report)
        document.file_changed.connect(self._update_title)
        document.changed.connect(self._update_title)
        document.undo_stack.indexChanged.connect(self._update_undo_text)
        self.inspector.set_document(document)
        if self.training.document is not document:
            self.training.set_document(document)
        if hasattr(self, "summary"):
            for view in (self.summary, self.cost_label, self.code):
                view.set_document(document)
        self.problems.show_report(document.report)
        self._update_title()
        self._update_undo_text()
        self.view.fit()

    def showEvent(self, event) -> None:
        """On first show: the bottom docks (Problems, Summary) get a quarter of the height, so
        the Summary shows more than two rows, and the right docks a third of the width."""
        super().showEvent(event)
        if not getattr(self, "_shown", False):
            self._shown = True
            bottom = max(160, self.height() // 4)
            self.resizeDocks([self.docks["Problems"]], [bottom], Qt.Orientation.Vertical)
            # the right docks (Inspector, Code, Training) get room for the curves once, here:
            # widening them when a run started re-laid out the whole window at F5
            right = min(620, max(380, int(0.35 * self.width())))
            self.resizeDocks([self.docks["Inspector"]], [right], Qt.Orientation.Horizontal)
            # once the window has painted: load what the first look at the curves and the
            # presets dialog need, in a thread (0.4-0.6 s of imports held the window before)
            QTimer.singleShot(warm_up.DELAY_MS, self, warm_up.start)
            self._warm_timer = QTimer(self, interval=100)
            self._warm_timer.timeout.connect(self._warmed_up)
            self._warm_timer.start()

    def _warmed_up(self) -> None:
        """Polled until the warm-up imports are done; then the plots are built while idle."""
        if warm_up.done.is_set():
            self._warm_timer.stop()
            self.training.prepare_plots()

    def _open_after_stop(self, document: Document) -> None:
        if self._pending_document is not None and self._pending_document is not document:
            self._pending_document.dispose()  # asked for another one meanwhile: this one wins
        first = self._pending_document is None
        self._pending_document = document
        if first:
            self.training.stop()
            self.view.setEnabled(False)
        self.statusBar().showMessage(
            f"stopping the run (writing its checkpoint), then opening {document.title}…"
        )

    def _stopped_for_document(self, running: bool) -> None:
        """The run has ended: the waiting document opens a turn later (the panel's end of
        run and the new document in one turn took 40-60 ms)."""
        if not running and self._pending_document is not None:
            QTimer.singleShot(OPEN_DELAY_MS, self, self._open_pending)

    def _open_pending(self) -> None:
        if self._pending_document is None or self.training.controller.running:
            return
        document, self._pending_document = self._pending_document, None
        self.view.setEnabled(True)
        self.set_document(document)
        self.statusBar().showMessage(f"opened {document.title}")

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title} — NetBuilder")  # title carries the *

    def _update_undo_text(self, _index: int = 0) -> None:
        """'Undo Move 2 nodes', 'Redo Adapt to shapes': say what the step is."""
        if not hasattr(self, "undo_action"):
            return
        stack = self.document.undo_stack
        self.undo_action.setText(f"&Undo {stack.undoText()}".rstrip())
        self.redo_action.setText(f"&Redo {stack.redoText()}".rstrip())

    # ---------------------------------------------------------------- editing
    def add_block(self, type_id: str, pos: QPointF | None = None) -> str:
        if pos is None:
            pos = self.view.mapToScene(self.view.viewport().rect().center())
        try:
            node_id = self.document.add_node(type_id, (pos.x(), pos.y()))
        except GraphError as exc:
            self.statusBar().showMessage(f"cannot add: {exc}")
            return ""
        self.statusBar().showMessage(f"added {node_id}")
        return node_id

    def add_from_palette(self, type_id: str) -> str:
        """A double-click in the palette: the block goes below the selected one, connected to
        it when that is valid (one undoable step), else at the view's centre; in free space
        either way, never on top of another block."""
        from app.core.layout import ROW_GAP, free_position

        if self.document.locked:
            self.statusBar().showMessage(f"cannot add: {self.document.locked}")
            return ""
        graph = self.document.graph
        ids = self.scene.selected_node_ids()
        anchor = ids[0] if len(ids) == 1 else None
        if anchor is not None:
            x, y = graph.node(anchor).position
            wanted = (x, y + ROW_GAP)
        else:
            centre = self.view.mapToScene(self.view.viewport().rect().center())
            wanted = (centre.x() - NODE_W / 2, centre.y() - NODE_H / 2)
        x, y = free_position(graph, wanted, (NODE_W, NODE_H))
        stack = self.document.undo_stack
        stack.beginMacro(f"Add {graph.registry.get(type_id).title}")
        try:
            node_id = self.add_block(type_id, QPointF(x, y))
            connectable = (
                node_id
                and anchor is not None
                and graph.node(anchor).type_id != "output"
                and graph.inputs_of(node_id)
            )
            if connectable:
                try:
                    self.document.connect(anchor, node_id)  # type: ignore[arg-type]
                except GraphError as exc:  # placed below it, unconnected, and why
                    self.statusBar().showMessage(f"added {node_id}, not connected: {exc}")
        finally:
            stack.endMacro()
        if node_id:
            self.focus_node(node_id)
        return node_id

    def insert_block(self, type_id: str, edge, pos: QPointF) -> str | None:
        """Insert a block on a connection (refusals explained in the status bar)."""
        try:
            node_id = self.document.insert_on_edge(edge, type_id, (pos.x(), pos.y()))
        except GraphError as exc:
            self.statusBar().showMessage(f"cannot insert here: {exc}")
            return None
        self.statusBar().showMessage(f"inserted {node_id} between {edge.src} and {edge.dst}")
        return node_id

    def _node_activated(self, node_id: str) -> None:
        if can_expand(self.document.graph.node(node_id).type_id):
            self.look_inside(node_id)
        else:
            self.docks["Inspector"].raise_()

    def look_inside(self, node_id: str) -> None:
        """Show a composite block's primitive parts; the dialog can expand it in place."""
        try:
            dialog = InsideDialog(self.document.graph, node_id, self)
        except ExpansionError as exc:
            self.statusBar().showMessage(str(exc))
            return
        if dialog.exec():
            self.expand(node_id)

    def expand(self, node_id: str) -> None:
        try:
            new_ids = self.document.expand(node_id)
        except GraphError as exc:
            self.statusBar().showMessage(f"cannot expand: {exc}")
            return
        self.scene.clearSelection()
        for n in new_ids:
            self.scene.node_items[n].setSelected(True)
        self.statusBar().showMessage(f"expanded {node_id} into {len(new_ids)} blocks")

    def _expand_selected(self) -> None:
        for node_id in self.scene.selected_node_ids():
            if can_expand(self.document.graph.node(node_id).type_id):
                self.expand(node_id)

    def _toggle_grid(self) -> None:
        self.scene.show_grid = self.grid_action.isChecked()
        self.scene.update()

    def _name(self) -> str:
        return self.document.project.name or "Untitled"

    def export_image_dialog(self) -> None:
        start = file_names.suggested(self._name(), ".png")
        path = file_names.ask_save(self, "Export canvas", start, IMAGE_FILTER)
        if path:
            self.export_canvas(Path(path))

    def export_canvas(self, path: Path) -> Path | None:
        try:
            written = export_image(self.scene, path)
        except OSError as exc:
            QMessageBox.warning(self, "Cannot export image", str(exc))
            return None
        self.statusBar().showMessage(f"exported the canvas to {written}")
        return written

    def auto_layout(self) -> None:
        """Lay the graph out in layers (one undoable move)."""
        from app.core.layout import layered_layout

        self.document.move(layered_layout(self.document.graph))
        self.view.fit()

    def copy_selection(self) -> None:
        """Put the selected blocks (and the edges among them) on the clipboard as JSON text.
        Plain text, not a Python-made QMimeData: the clipboard would own and free that at
        exit, which crashes PySide."""
        ids = self.scene.selected_node_ids()
        if not ids:
            return
        data = {"netbuilder": "blocks", **fragment(self.document.graph, ids)}
        QGuiApplication.clipboard().setText(json.dumps(data))
        self.statusBar().showMessage(f"copied {len(ids)} block(s)")

    def paste(self) -> None:
        try:
            data = json.loads(QGuiApplication.clipboard().text())
        except ValueError:
            return  # not ours
        if not isinstance(data, dict) or data.get("netbuilder") != "blocks":
            return
        try:
            new = self.document.paste(data)
        except (ValueError, KeyError, TypeError, GraphError) as exc:
            self.statusBar().showMessage(f"cannot paste: {exc}")
            return
        self.scene.clearSelection()
        for node_id in new:
            self.scene.node_items[node_id].setSelected(True)
        self.statusBar().showMessage(f"pasted {len(new)} block(s)")

    def duplicate(self) -> None:
        self.copy_selection()
        self.paste()

    def delete_selection(self) -> None:
        try:
            self.document.remove(self.scene.selected_node_ids(), self.scene.selected_edges())
        except GraphError as exc:
            self.statusBar().showMessage(f"cannot delete: {exc}")

    # --------------------------------------------------------------- training
    def _start_training(self) -> None:
        self.docks["Training"].raise_()
        self.training.start()

    def _new_experiment(self) -> None:
        self.docks["Training"].raise_()
        self.training.new_experiment()

    def _training_running(self, running: bool) -> None:
        """Lock structural editing while a run uses the graph (moves stay allowed)."""
        for act in (self.undo_action, self.redo_action):
            act.setEnabled(not running)
        self.palette_panel.setEnabled(not running)
        self.inspector.setEnabled(not running)
        if running:
            # the dock keeps its width: widening it for the run re-laid out the whole window
            # (40-60 ms of the first F5's stall) and left the canvas a sliver at 1000×700;
            # the curves and their keys read at its default width
            self.docks["Training"].raise_()
            self.statusBar().showMessage("training: the graph is locked until the run ends")
        else:
            self.statusBar().showMessage("the run ended: the graph can be edited again")

    def _nonfinite(self, node_id: str) -> None:
        """Outline the first layer producing NaN/Inf ("": the run resumed, clear the mark)."""
        if not node_id:
            self.scene.clear_nonfinite()
            return
        self.scene.mark_nonfinite(node_id)
        self.focus_node(node_id)

    def confirm_stop_training(self) -> bool:
        """Ask before stopping a run to close or switch documents (tests replace this)."""
        answer = QMessageBox.question(
            self,
            "Training in progress",
            "A training run is in progress. Stop it? Its last checkpoint is kept, and "
            "'Continue Last Run' can resume it later.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _selection_changed(self) -> None:
        ids = self.scene.selected_node_ids()
        self.inspector.show_node(ids[0] if len(ids) == 1 else None)

    def focus_node(self, node_id: str) -> None:
        item = self.scene.node_items.get(node_id)
        if item is None:
            return
        self.scene.clearSelection()
        item.setSelected(True)
        self.view.centerOn(item)

    # ------------------------------------------------------------------ files
    def confirm_discard(self) -> bool:
        """Ask before losing unsaved changes, and before stopping a run (tests replace
        this)."""
        if self.training.controller.running and not self.confirm_stop_training():
            return False
        if not self.document.modified:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save changes to {self.document.title.rstrip(' *')}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_document(self) -> None:
        if self.confirm_discard():
            from app.core.graph import Graph

            graph = Graph()
            graph.add_node("input", position=(0.0, 0.0))
            self.set_document(Document(Project(graph, "Untitled")))

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            act = self.recent_menu.addAction(str(path))
            act.triggered.connect(
                lambda _=False, p=path: self.confirm_discard() and self.open_path(p)
            )
        self.recent_menu.setEnabled(bool(self.recent.paths()))

    def offer_recovery(self) -> bool:
        """After a crash: offer the newest autosave (tests replace ask_recover)."""
        found = recoverable()
        if not found or not self.ask_recover(found[0]):
            return False
        try:
            project = recover(found[0])
        except ProjectFileError as exc:
            QMessageBox.warning(self, "Cannot recover", "\n".join(exc.problems[:20]))
            return False
        document = Document(project)
        self.set_document(document)
        document.undo_stack.resetClean()  # recovered work is unsaved work
        self.autosaver.current = found[0]
        self._update_title()
        self.statusBar().showMessage(f"recovered {found[0].name}")
        return True

    def ask_recover(self, path: Path) -> bool:
        import time

        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        answer = QMessageBox.question(
            self,
            "Recover unsaved work",
            f"NetBuilder did not close cleanly. Recover the work autosaved at {when}?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            path.unlink(missing_ok=True)
        return answer == QMessageBox.StandardButton.Yes

    def presets_dialog(self) -> None:
        from app.ui.presets_dialog import PresetsDialog

        dialog = PresetsDialog(self)
        if dialog.exec() and dialog.selected:
            # a turn later: the window repaints where the dialog was, then builds the preset
            # (in one turn the two took 50-60 ms)
            name = dialog.selected
            QTimer.singleShot(OPEN_DELAY_MS, self, lambda: self.open_preset(name))

    def open_preset(self, name: str) -> None:
        """A new document holding the preset (after asking about unsaved changes)."""
        import presets

        if not self.confirm_discard():
            return
        p = presets.get(name)
        self.set_document(Document(p.project()))
        if self._pending_document is None:  # else it says it is stopping the run first
            self.statusBar().showMessage(f"opened preset {p.title}")

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        path = file_names.ask_open(self, "Open project", FILE_FILTER)
        if path:
            self.open_path(Path(path))

    def import_dialog(self) -> None:
        """Ask for a model, where to save its project, then import it in a worker process."""
        from app.ui.import_dialog import ImportDialog

        if not self.confirm_discard():
            return
        dialog = ImportDialog(self)
        if dialog.exec() != ImportDialog.DialogCode.Accepted:
            return
        start = file_names.suggested(dialog.suggested_name(), ".json")
        path = file_names.ask_save(self, "Save the imported project", start, FILE_FILTER)
        if path:
            self.import_model(dialog.arguments(Path(path)), Path(path))

    def import_model(self, argv: list[str], output: Path):
        """Run ``main.py import`` (``argv``) in its own process and open ``output`` when it
        is written; returns the job (its progress dialog can cancel it)."""
        from app.ui.import_dialog import ImportJob

        job = ImportJob(argv, output, self)
        job.finished_ok.connect(lambda path: self._imported(job, path))
        job.failed.connect(self._import_failed)
        self.statusBar().showMessage(f"importing {argv[1]}…")
        job.start()
        self._import_job = job
        return job

    def _imported(self, job, path: Path) -> None:
        if self.open_path(path):
            first = job.summary.splitlines()[0] if job.summary else f"imported {path.name}"
            self.statusBar().showMessage(first)

    def _import_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"cannot import: {message.splitlines()[0]}")
        if message != "import cancelled":
            QMessageBox.warning(self, "Cannot import the model", message[:4000])

    def open_path(self, path: Path) -> bool:
        """Open a project; a corrupt file shows the loader's messages and changes nothing."""
        try:
            document = Document.open(path)
        except ProjectFileError as exc:
            QMessageBox.warning(self, "Cannot open project", "\n".join(exc.problems[:20]))
            self.statusBar().showMessage(f"cannot open {path}")
            return False
        self.set_document(document)
        self.recent.add(path)
        self._rebuild_recent()
        notes = document.project.notes
        if notes:
            more = f"\n… and {len(notes) - 20} more" if len(notes) > 20 else ""
            QMessageBox.information(
                self,
                "Project repaired",
                f"{path.name} opened with {len(notes)} repair(s); save to keep them:\n\n"
                + "\n".join(notes[:20])
                + more,
            )
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        self.document.save()
        self._saved()
        return True

    def _saved(self) -> None:
        self.autosaver.discard()
        self.recent.add(self.document.path)  # type: ignore[arg-type]
        self._rebuild_recent()
        self.statusBar().showMessage(f"saved {self.document.path}")

    def save_as(self) -> bool:
        start = file_names.suggested(self._name(), ".json")
        path = file_names.ask_save(self, "Save project", start, FILE_FILTER)
        if not path:
            return False
        self.document.save(Path(path))
        self._saved()
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask everything first (stop the run? save?), then act: a Cancel anywhere leaves the
        run training. A running run is stopped without blocking the window (its checkpoint
        is written first), and the window closes when the process has ended."""
        if not self._closing and not self.confirm_discard():
            event.ignore()
            return
        if self.training.controller.running:
            if not self._closing:
                self._closing = True
                self.training.controller.running_changed.connect(
                    lambda running: running or self.close()
                )
                self.training.stop()
                self.setEnabled(False)
                self.statusBar().showMessage("stopping the run (writing its checkpoint)…")
            event.ignore()
            return
        self.training.shutdown()  # joins the ended process; ends the export worker too
        self.document.detach()
        self.autosaver.discard()
        event.accept()
