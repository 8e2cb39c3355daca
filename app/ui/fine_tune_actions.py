"""The main window's fine-tuning and see-inside actions: freezing blocks and stages, their
learning-rate multipliers, Train → Fine-tune… and Train → See Inside…. A mixin of
:class:`app.ui.main_window.MainWindow`, which has the document, the training panel, the
docks and the status bar these use."""

from __future__ import annotations

import tempfile
from pathlib import Path

from app.core.errors import GraphError
from app.core.graph import LR_MULT_MAX, Learning
from app.core.serialization import Project
from app.ui.document import Document


class FineTuningActions:
    def set_frozen(self, node_ids, frozen: bool) -> None:
        """Freeze (or unfreeze) blocks: their weights keep their values when training."""
        graph = self.document.graph
        changes = {
            n: Learning(not frozen, graph.node(n).learning.lr_mult) for n in node_ids if n in graph
        }
        self._set_learning(changes, f"{'Freeze' if frozen else 'Unfreeze'} {len(changes)} block(s)")

    def freeze_up_to(self, node_id: str) -> None:
        """Freeze the block and everything before it; the rest trains."""
        from app.core.training.fine_tune import freeze_up_to

        name = self.document.graph.module_names()[node_id]
        self._set_learning(freeze_up_to(self.document.graph, node_id), f"Freeze up to {name}")

    def see_inside(self, view: str = "signal", node: str = ""):
        """Train → See Inside…: the inspect figures, drawn in their own processes."""
        from app.core.serialization import to_json
        from app.ui.see_inside import SeeInsideDialog

        self._inside_dir = tempfile.TemporaryDirectory(prefix="netbuilder-inside-")

        def project_file() -> Path:  # the open project as the command reads it, when asked
            path = Path(self._inside_dir.name) / "project.json"
            path.write_text(to_json(self.document.project), encoding="utf-8")
            return path

        nodes = [
            n
            for n in self.document.graph.topological_order()
            if self.document.graph.node(n).type_id not in ("input", "output")
        ]
        dialog = SeeInsideDialog(project_file, lambda: self.training.last_run_dir, nodes, self)
        dialog.show_view(view, node)
        dialog.show()
        return dialog

    def fine_tune_dialog(self) -> None:
        """Set a pretrained network up for the user's image folder (one undoable step on the
        open network, or a new document from a preset)."""
        from app.ui.fine_tune_dialog import FineTuneDialog

        if self.training.controller.running:
            self.statusBar().showMessage("stop the run first: fine-tuning changes the network")
            return
        total = sum(i.params for i in self.document.report.nodes.values())
        dialog = FineTuneDialog(
            self.document.graph, total, dict(self.document.project.training), self
        )
        if not dialog.exec() or dialog.result_plan is None:
            return
        self.apply_fine_tune(dialog.preset, dialog.result_plan)

    def apply_fine_tune(self, preset: str, plan) -> None:
        import presets

        if preset:
            if not self.confirm_discard():
                return
            title = f"{presets.get(preset).title} (fine-tuned)"
            self.set_document(Document(Project(plan.graph, title, plan.settings)))
            self.document.undo_stack.resetClean()  # unsaved work
            self._update_title()
        else:
            self.document.adopt(plan.graph, "Fine-tune", plan.settings)
        self.training.show_settings(
            "Initialisation"
        )  # where the weights and their preprocessing are
        self.docks["Training"].raise_()
        self.statusBar().showMessage("set up for fine-tuning: " + "; ".join(plan.changes[:-1]))

    def unfreeze_all(self) -> None:
        self.set_frozen(list(self.document.graph.frozen()), False)

    def ask_lr_mult(self, node_ids) -> None:
        """Ask for the learning-rate multiplier of blocks (a stage: backbone ×0.1)."""
        from PySide6.QtWidgets import QInputDialog

        graph = self.document.graph
        ids = [n for n in node_ids if n in graph]
        if not ids:
            return
        current = graph.node(ids[0]).learning.lr_mult
        value, ok = QInputDialog.getDouble(
            self,
            "Learning-rate multiplier",
            f"The learning rate of {len(ids)} block(s) is the schedule's times:",
            current,
            0.001,
            LR_MULT_MAX,
            3,
        )
        if ok:
            changes = {n: Learning(graph.node(n).learning.trainable, value) for n in ids}
            self._set_learning(changes, f"Learning rate ×{value:g} for {len(ids)} block(s)")

    def _set_learning(self, changes, text: str) -> None:
        try:
            self.document.set_learning(changes, text)
        except GraphError as exc:
            self.statusBar().showMessage(f"cannot change: {exc}")
            return
        from app.core.training.fine_tune import describe_learning

        summary = describe_learning(self.document.graph, self.document.report)
        self.statusBar().showMessage(f"{text}: {summary or 'every layer trains'}")
