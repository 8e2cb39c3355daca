"""The training panel: run settings (stored in the project), the planned LR curve, Start /
Pause / Resume / Stop, progress, live curves, per-layer diagnostics, run history and results.

Records arrive in batches from the controller and only update RunMetrics; the plots, the
progress line and the layer table are redrawn by a 10 Hz timer, never per record."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QToolBox,
    QVBoxLayout,
    QWidget,
)

from app.core.experiments.queue import QueueItem, queue_path
from app.core.experiments.space import point_text
from app.core.experiments.sweep import SweepFinished, TrialStarted
from app.core.serialization import Project, to_json
from app.core.training.config import (
    ConfigError,
    TrainConfig,
    option_registry,
    planned_steps_per_epoch,
    setting_groups,
    settings,
)
from app.core.training.events import (
    Diverged,
    Paused,
    Resumed,
    RunFailed,
    RunFinished,
    RunResults,
    RunStarted,
    Status,
)
from app.core.training.paths import default_runs_root
from app.core.training.rundir import RunDir
from app.core.training.schedules import preview
from app.ui.document import Document
from app.ui.param_form import make_editor, set_editor_value
from app.ui.training.controller import TrainingController
from app.ui.training.experiments_tab import ExperimentsTab
from app.ui.training.fit_bar import DatasetFitBar
from app.ui.training.history_list import RunHistoryList
from app.ui.training.layer_table import LayerTable
from app.ui.training.results_tab import ResultsTab

REDRAW_MS = 100
LAYERS_INTERVAL_S = 1.0
LIVE_FIELDS = ("lr",)  # may change while a run trains
IDLE_STATUS = (
    "Not trained yet: choose the settings, then Start (F5). The Curves tab shows the planned "
    "learning-rate schedule."
)


def _eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def pretrained_text(name: str) -> str:
    """The weight set's accuracy and the preprocessing the images get from it."""
    if not name:
        return "none: the network starts from its initialisation (Train → Fine-tune… sets one)"
    from app.core.weight_sets import is_cached, weight_set

    ws = weight_set(name)
    where = "in the cache" if is_cached(ws) else f"{ws.size_mb:.1f} MB to download at Start"
    return f"{ws.accuracy}; {where}. Images: {ws.preprocessing}."


def finish_text(record: RunFinished) -> str:
    """The status line of an ended run; it never cites a score that was not measured."""
    if record.epochs_done == 0:
        text = (
            f"Run {record.reason} at step {record.step}, before the first epoch ended: no "
            "validation score yet."
        )
    else:
        text = (
            f"Run {record.reason} at step {record.step}: best validation accuracy "
            f"{record.best_val_acc:.2%} (epoch {record.best_epoch})."
        )
    if record.reason == "stopped":
        text += " Results are computed when a run finishes: Continue Last Run resumes it."
    return text


def sweep_text(record: SweepFinished) -> str:
    if record.best_trial is None:
        head = "no trial completed"
    else:
        head = (
            f"best: trial {record.best_trial} ({point_text(record.best_point)}), "
            f"{record.best_value:.4f}"
        )
    verb = "Sweep stopped" if record.stopped else "Sweep finished"
    return f"<b>{verb}</b> ({record.completed} trial(s) completed): {head}."


CURVES_DELAY_MS = 20  # after Start, the Curves tab comes forward this much later
HIDDEN_SYNC_MS = 50  # hidden plots follow a change this much later, in a turn of their own


class TrainingPanel(QWidget):
    message = Signal(str)
    running_changed = Signal(bool)
    layer_stats = Signal(object)  # {node_id: LayerStat} or None to clear
    nonfinite_node = Signal(str)  # the first layer producing NaN/Inf ("" clears the mark)
    device_changed = Signal(str)

    def __init__(self, document: Document, mechanism: str = "process") -> None:
        super().__init__()
        self.controller = TrainingController(self, mechanism)
        self.controller.records.connect(self.on_records)
        self.controller.running_changed.connect(self._running_changed)
        self.metrics = None  # RunMetrics of the current or last run (numpy: imported on use)
        self.run_config: TrainConfig | None = None
        self.last_run_dir: Path | None = None
        self.results = None
        self.editors: dict[str, QWidget] = {}
        self._dirty = False
        self._plots = None
        self._building = None  # MetricsPlots being built a piece at a time
        self._plots_stale = False  # the plots show an older document or settings
        self._layers_shown = 0.0
        self._diverged_at: int | None = None  # the step of a NaN pause, until resumed
        self._trial_text = ""  # which trial of a sweep is training (its status line's start)
        self._warned = ""  # the will-not-fit warning last shown (Start again goes ahead)
        self._predicted_rate = None  # images/s the pre-flight estimate expects of this run
        self._build()
        self.timer = QTimer(self, interval=REDRAW_MS, singleShot=True)  # armed by records
        self.timer.timeout.connect(self.redraw)
        self.set_document(document)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.toolbox = QToolBox()
        specs = {p.name: p for p in settings()}
        defaults = TrainConfig().to_dict()
        for group, names in setting_groups().items():
            page = QWidget()
            form = QFormLayout(page)
            for name in names:
                editor = make_editor(specs[name], defaults[name], self.apply)
                registry = option_registry(name)
                if registry is not None:  # each option says what it does
                    for i, option in enumerate(registry):
                        editor.setItemData(i, option.help, Qt.ItemDataRole.ToolTipRole)  # type: ignore[attr-defined]
                self.editors[name] = editor
                form.addRow(name.replace("_", " "), editor)
                if name == "pretrained":  # what the weights are and what they bring
                    self.pretrained_info = QLabel()
                    self.pretrained_info.setWordWrap(True)
                    self.pretrained_info.setStyleSheet("color: palette(mid);")
                    form.addRow("", self.pretrained_info)
            self.toolbox.addItem(page, group)
        # tall enough for its longest page, whose rows a short dock squeezed into a scrolling
        # sliver (3 rows at 1000×700): the Settings tab scrolls the whole toolbox instead
        headers = sum(b.sizeHint().height() for b in self.toolbox.findChildren(QAbstractButton))
        pages = max(self.toolbox.widget(i).sizeHint().height() for i in range(self.toolbox.count()))
        self.toolbox.setMinimumHeight(headers + pages + 8)
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.continue_button = QPushButton("Continue Last Run")
        self.continue_button.setToolTip("Resume the last stopped or failed run from its checkpoint")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.continue_button.clicked.connect(self.continue_last)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button, self.continue_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.status = QLabel(IDLE_STATUS)
        self.status.setWordWrap(True)
        # room for three lines from the start: a status that changes height re-lays out the
        # dock, and with it the four plots (40 ms when a run started)
        self.status.setMinimumHeight(3 * self.status.fontMetrics().lineSpacing())
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.tabs = QTabWidget()
        self.plots_host = QWidget()
        QVBoxLayout(self.plots_host).setContentsMargins(0, 0, 0, 0)
        self.layers = LayerTable()
        self.history = RunHistoryList()
        self.history.overlays_changed.connect(lambda runs: self.plots.set_overlays(runs))
        self.results_tab = ResultsTab(lambda: (to_json(self.document.project), self.last_run_dir))
        self.results_tab.message.connect(self.message)
        self.results_view = self.results_tab.view
        # scrolls instead of holding the window open: six group headers made the dock at
        # least 420 px tall, so at 1000×700 the window outgrew the screen (status bar lost)
        self.settings_page = QScrollArea()
        self.settings_page.setWidget(self.toolbox)
        self.settings_page.setWidgetResizable(True)
        self.settings_page.setFrameShape(QFrame.Shape.NoFrame)
        self.tabs.addTab(self.settings_page, "Settings")
        self.tabs.addTab(self.plots_host, "Curves")
        self.tabs.addTab(self.layers, "Layers")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.history_page = QWidget()
        history_layout = QVBoxLayout(self.history_page)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addWidget(self.history)
        self.compare_button = QPushButton("Compare Ticked Runs…")
        self.compare_button.setToolTip(
            "Settings that differ, graph diff, curves, and metrics with 95% intervals"
        )
        self.compare_button.clicked.connect(self.compare_ticked)
        history_layout.addWidget(self.compare_button)
        self.tabs.addTab(self.history_page, "History")
        self.tabs.addTab(self.results_tab, "Results")
        self.experiments = ExperimentsTab(
            self._start_item, lambda: self.controller.running, queue_path()
        )
        self.experiments.message.connect(self.message)
        self.experiments.new_requested.connect(self.new_experiment)
        self.experiments.compare_requested.connect(self.open_comparison)
        # the last session's queue, once the window has connected the panel's messages
        QTimer.singleShot(0, self, self.experiments.restore)
        self.tabs.addTab(self.experiments, "Experiments")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.fit_bar = DatasetFitBar()
        self.fit_bar.message.connect(self.message)
        layout.addWidget(self.fit_bar)
        layout.addWidget(self.tabs, 1)
        self._update_buttons()

    @property
    def plots(self):
        """The pyqtgraph plots, created on first use or while the window is idle
        (:meth:`prepare_plots`): pyqtgraph and numpy take 0.4 s to import, so the window
        shows first (connect the dock's visibilityChanged to :meth:`on_visible`)."""
        if self._plots is None:
            if self._building is None:
                self._start_building()
            while self._building.build_step():
                pass
            self._install_plots()
        self._sync_plots()
        return self._plots

    def prepare_plots(self) -> None:
        """Build the plots a piece per turn of the event loop (each piece 10-25 ms), so the
        first look at the curves shows them at once and no turn holds the window long. Call
        when the plotting modules are imported (see app.ui.warm_up)."""
        if self._plots is not None or self._building is not None:
            return
        self._start_building()
        QTimer.singleShot(0, self, self._build_step)

    def _start_building(self) -> None:
        from app.ui.training.plots import MetricsPlots

        self._building = MetricsPlots(defer=True)

    def _build_step(self) -> None:
        if self._building is None:  # finished on demand meanwhile
            return
        if self._building.build_step():
            QTimer.singleShot(0, self, self._build_step)
        else:
            self._install_plots()

    def _install_plots(self) -> None:
        self._plots, self._building = self._building, None
        self.plots_host.layout().addWidget(self._plots)
        self._plots.resize(self.plots_host.size())  # the size it will show at: laid out once
        self._plots_stale = True
        self._sync_plots()
        self._load_history()
        # lay out and paint them once while the window is idle: the first paint (fonts,
        # axes, keys) costs 20-40 ms, better spent now than when a run starts
        QTimer.singleShot(0, self._plots, self._plots.grab)  # dropped if it is gone

    def on_visible(self, visible: bool = True) -> None:
        if visible:
            self.plots  # noqa: B018 - build on first sight, bring up to date

    def _plots_changed(self) -> None:
        """The curves to show changed (another document, new settings): redrawn now if the
        plots are on screen, else when they next are (hidden plots cost 10-30 ms a change,
        paid where a document opens)."""
        self._plots_stale = True
        if self._plots is not None:
            if self._plots.isVisible():
                self._sync_plots()
            else:  # in a later turn of the event loop than the change (a document opening)
                QTimer.singleShot(HIDDEN_SYNC_MS, self, self._sync_plots)

    def _sync_plots(self) -> None:
        if not self._plots_stale or self._plots is None:
            return
        self._plots_stale = False
        if self.metrics is not None:
            self._plots.set_metrics(self.metrics)
        else:
            from app.core.training.metrics import RunMetrics

            self._plots.set_metrics(RunMetrics("this run"))
        config = self.config()
        spe = planned_steps_per_epoch(config)
        # a sweep's run may have other settings than the document's: no planned curve
        planned = spe and not self._trial_text
        self._plots.set_preview(preview(config, spe) if planned else [])
        if spe and not self.controller.running:  # the step axis spans the planned run
            self._plots.set_total_steps(config.epochs * spe)

    # --------------------------------------------------------------- settings
    def set_document(self, document: Document) -> None:
        if getattr(self, "document", None) is not None and not self.controller.running:
            self._forget_run()  # another document: nothing of the last run's may show
        self.document = document
        document.training_changed.connect(self._load_settings)
        document.checked.connect(self._check_fit)
        self._load_settings()
        if self._plots is not None:
            self._load_history()

    def _show_percent(self, percent: int) -> None:
        """QProgressBar.setValue repaints at once, and a repaint flushes every pending paint
        of the window: opening a document painted its whole new canvas inside this call
        (15-20 ms), and each report painted the plots in it. Updated with the next paint."""
        self.progress.setUpdatesEnabled(False)
        self.progress.setValue(percent)
        self.progress.setUpdatesEnabled(True)  # schedules the bar's paint

    def _forget_run(self) -> None:
        """Back to 'not trained yet': status, progress, curves, results, Continue."""
        self.metrics = self.results = self.run_config = self.last_run_dir = None
        self._diverged_at = None
        self.status.setText(IDLE_STATUS)
        self._show_percent(0)
        self.results_tab.set_results(None)
        self.layers.show_stats(())
        self.layer_stats.emit(None)
        self.nonfinite_node.emit("")
        self._plots_changed()
        self._update_buttons()

    def config(self) -> TrainConfig:
        """The project's settings (invalid stored values fall back to defaults, reported)."""
        try:
            return TrainConfig.from_dict(self.document.project.training)
        except ConfigError as exc:
            self.message.emit(f"training settings in the file were ignored: {exc.problems[0]}")
            return TrainConfig()

    def show_settings(self, group: str) -> None:
        """Bring the Settings tab forward, opened at ``group`` (Data, Optimizer, …)."""
        self.tabs.setCurrentWidget(self.settings_page)
        for i in range(self.toolbox.count()):
            if self.toolbox.itemText(i) == group:
                self.toolbox.setCurrentIndex(i)

    def _load_settings(self) -> None:
        config = self.config()
        values = config.to_dict()
        for name, editor in self.editors.items():
            set_editor_value(editor, values[name])
        self.pretrained_info.setText(pretrained_text(config.pretrained))
        self._plots_changed()  # the planned LR and the step axis follow the settings
        self._check_fit()

    def _check_fit(self, _report=None) -> str:
        """Show the dataset-fit bar when the settings' dataset cannot train the graph."""
        return self.fit_bar.refresh(self.document, self.config())

    def apply(self, name: str, value) -> None:
        """A settings edit: validated, stored in the project (undoable); LR also live."""
        try:
            config = self.config().replace(**{name: value})
        except ConfigError as exc:
            self.message.emit(f"refused: {exc.problems[0]}")
            self._load_settings()
            return
        if config == self.config():
            return
        if self.controller.running and name not in LIVE_FIELDS:
            self.message.emit(f"{name} cannot change while training: stop the run first")
            self._load_settings()
            return
        if self.controller.running and self.run_config is not None:
            self.controller.handle.set_lr_scale(config.lr / self.run_config.lr)
            self.message.emit(f"learning rate set to {config.lr:g} from the next step")
        self.document.set_training(config.changed())

    # --------------------------------------------------------------- control
    def start(self, *, run_dir: Path | None = None) -> bool:
        if self.controller.running:
            return False
        report = self.document.report
        if not report.ok:
            self.message.emit(f"fix the graph first: {report.errors[0].message}")
            return False
        problem = self._check_fit()
        if problem:
            self.status.setText(f"<b>Cannot start:</b> {problem}: use one of the fixes below.")
            self.message.emit(f"cannot start: {problem}")
            return False
        too_big = self._will_not_fit() if run_dir is None else ""
        if too_big and self._warned != too_big:  # once: Start again tries anyway
            self._warned = too_big
            self.status.setText(f"<b>Will not fit:</b> {too_big}. Start again to try anyway.")
            self.message.emit(f"will not fit: {too_big}")
            return False
        self._warned = ""
        config, project = self.run_setup()
        self._launch(to_json(project), config, project.name, run_dir=run_dir)
        return True

    def _will_not_fit(self) -> str:
        """Why the step's predicted peak exceeds the device's free memory (with the batch
        that fits), or "" when it fits or the free memory is unknown."""
        from app.core.cost import bytes_text
        from app.ui.info_panels import document_cost

        found = document_cost(self.document)
        if found is None:
            return ""
        cost, largest, device, free = found
        if largest is None or largest >= cost.batch:
            return ""
        return (
            f"batch {cost.batch} needs ≈ {bytes_text(cost.peak)} and {device} has "
            f"{bytes_text(free)} free: batch {largest:,} fits (Settings → Data → batch size)"
        )

    def run_setup(self) -> tuple[TrainConfig, Project]:
        """The settings and a copy of the project a run of the document now would use."""
        config = self.config()
        path = self.document.path
        config = config.with_paths_from(path.parent if path else None)
        project = Project(
            self.document.graph.copy(), self.document.project.name or "Untitled", config.changed()
        )
        return config, project

    def start_job(self, project_json: str, config: TrainConfig, name: str, job, options) -> bool:
        """Run a job (a queued sweep) in the training process, with the live curves of each
        of its runs in turn."""
        if self.controller.running:
            return False
        self._launch(project_json, config, name, job=job, options=options)
        return True

    def _launch(
        self,
        project_json: str,
        config: TrainConfig,
        name: str,
        *,
        run_dir: Path | None = None,
        job=None,
        options: dict | None = None,
    ) -> None:
        from app.core.training.metrics import RunMetrics

        self.metrics = RunMetrics("this run")
        self.results = None
        self.run_config = config
        self._trial_text = ""
        self._show_percent(0)  # not the last run's 100% while the next one starts
        self._dirty = True
        self._plots_stale = True  # the empty curves, on the Curves tab's next showing
        self.results_tab.set_results(None)
        self.layer_stats.emit(None)
        # the curves come forward a turn of the event loop later: the window then paints the
        # locked graph and the curves in two frames instead of one of 80-100 ms (a 0 ms timer
        # ran in the same turn as this, before the window could paint)
        QTimer.singleShot(
            CURVES_DELAY_MS, self.tabs, lambda: self.tabs.setCurrentWidget(self.plots_host)
        )
        self.status.setText("Starting the training process…")
        self.controller.start(
            project_json,
            config,
            name=name,
            runs_root=default_runs_root(),
            run_dir=run_dir,
            job=job,
            options=options,
        )

    def continue_last(self) -> bool:
        if self.last_run_dir is None or not RunDir(self.last_run_dir, create=False).has_checkpoint(
            "last"
        ):
            self.message.emit("there is no stopped run with a checkpoint to continue")
            return False
        return self.start(run_dir=self.last_run_dir)

    def toggle_pause(self) -> None:
        if self.controller.paused:
            self.controller.resume()
        else:
            self.controller.pause()
        self._update_buttons()

    def pause(self) -> None:
        if not self.controller.paused:
            self.toggle_pause()

    def resume(self) -> None:
        if self.controller.paused:
            self.toggle_pause()

    def stop(self) -> None:
        self.controller.stop()
        self.status.setText("Stopping after the current step (the checkpoint is kept)…")

    def shutdown(self, timeout_s: float = 20.0) -> bool:
        """Stop and join the run (window closing or another document opening)."""
        self.timer.stop()
        self.results_tab.shutdown()
        return self.controller.shutdown(timeout_s)

    def _running_changed(self, running: bool) -> None:
        self.document.locked = (
            "the graph is training: stop the run to change its structure" if running else ""
        )
        for name, editor in self.editors.items():
            editor.setEnabled(not running or name in LIVE_FIELDS)
        self._update_buttons()
        if not running:
            self.timer.stop()
            self.redraw()
            if self._plots is not None:
                self._load_history()
        self.running_changed.emit(running)
        if not running:
            self.experiments.run_ended()

    def _update_buttons(self) -> None:
        running = self.controller.running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Resume" if self.controller.paused else "Pause")
        self.continue_button.setEnabled(not running and self.last_run_dir is not None)

    # ---------------------------------------------------------------- records
    def on_records(self, batch: list) -> None:
        """Called with each batch from the worker; cheap: the timer redraws."""
        if self.metrics is None:
            from app.core.training.metrics import RunMetrics

            self.metrics = RunMetrics("this run")
        for record in batch:
            if isinstance(record, TrialStarted):  # a sweep's next run: its own curves
                from app.core.training.metrics import RunMetrics

                self.metrics = RunMetrics(f"trial {record.trial}, seed {record.seed}")
                self._trial_text = (
                    f"trial {record.trial} ({point_text(record.point)}) · "
                    f"seed {record.repeat + 1}/{record.seeds} · "
                )
                self.layer_stats.emit(None)
                self._plots_stale = True
                self._sync_plots()
            self.metrics.add(record)
            if isinstance(record, RunStarted):
                self.last_run_dir = Path(record.run_dir)
                from app.ui.info_panels import predicted_step

                step = None if self._trial_text else predicted_step(self.document, record.device)
                self._predicted_rate = self.config().batch_size / step if step else None
                if self._plots is not None:
                    self._plots.set_total_steps(record.total_steps)
                self.device_changed.emit(record.device)
                if record.notes:  # pretrained weights, re-initialised and frozen layers
                    self.message.emit("; ".join(record.notes))
            elif isinstance(record, Status) and self.metrics.last is None:
                self.status.setText(record.message[:1].upper() + record.message[1:])
                if record.total:  # a download: the bar shows how much has come
                    self._show_percent(round(100 * min(record.done / record.total, 1.0)))
            elif isinstance(record, Diverged):
                self._diverged(record)
            elif isinstance(record, Paused | Resumed):
                if isinstance(record, Resumed) and self._diverged_at is not None:
                    self._diverged_at = None
                    self.nonfinite_node.emit("")
                self._update_buttons()
            elif isinstance(record, RunFailed):
                self._failed(record)
            elif isinstance(record, RunFinished):
                self.status.setText(finish_text(record))
            elif isinstance(record, SweepFinished):
                self.status.setText(sweep_text(record))
            elif isinstance(record, RunResults):
                self.results = record
                self.results_tab.set_results(record)
        self.experiments.on_records(batch)
        self._dirty = True
        if not self.timer.isActive():  # redraw at most every REDRAW_MS, only when data came
            self.timer.start()

    def _diverged(self, event: Diverged) -> None:
        """A NaN/Inf loss paused the run: say so, show the layer, offer the learning rate."""
        self._diverged_at = event.step
        message = event.message[:1].upper() + event.message[1:]
        self.status.setText(f"<b>Paused: the loss is not finite.</b> {message}.")
        if self.metrics is not None and self.metrics.started is not None:
            self._set_progress(event.resume_step, self.metrics.started.total_steps)
        self.message.emit(f"training paused: the loss became {event.loss} at step {event.step}")
        if event.node_id:
            self.nonfinite_node.emit(event.node_id)
        self.tabs.setCurrentWidget(self.settings_page)  # the learning rate can change now
        self.toolbox.setCurrentWidget(self.editors["lr"].parentWidget())
        self.editors["lr"].setFocus()
        self._update_buttons()

    def _failed(self, failure: RunFailed) -> None:
        self.status.setText(f"<b>Run failed ({failure.kind})</b>: {failure.message}")
        self.message.emit(f"training failed: {failure.message}")
        if failure.run_dir:
            self.last_run_dir = Path(failure.run_dir)
        if failure.node_id:
            self.nonfinite_node.emit(failure.node_id)

    def redraw(self) -> None:
        if not self._dirty or self.metrics is None:
            return
        self._dirty = False
        m = self.metrics
        if self._plots is not None and self._plots.isVisible():
            self._plots.redraw()
        last, started = m.last, m.started
        if started is not None and last is not None and self._diverged_at is None:
            self._set_progress(last.step, started.total_steps)
            epoch_text = f"epoch {last.epoch + 1}/{started.epochs}"
            if m.end is None:
                self.status.setText(
                    self._trial_text + f"{epoch_text} · step {last.step}/{started.total_steps} · "
                    f"ETA {_eta(last.eta_s)} · {last.images_per_sec:,.0f} images/s"
                    + (f" (predicted {self._predicted_rate:,.0f})" if self._predicted_rate else "")
                    + " · "
                    + (f"loss {m.smoothed.values[-1]:.4f}" if len(m.smoothed) else "")
                    + (" · paused" if self.controller.paused else "")
                )
        # per-layer diagnostics change slowly: the table and the canvas heat strips are
        # refreshed at most once a second (repainting the canvas costs the training speed)
        now = time.monotonic()
        if m.layers and (now - self._layers_shown >= LAYERS_INTERVAL_S or m.end is not None):
            self._layers_shown = now
            if self.layers.isVisible() or m.end is not None:
                self._show_layers()
            self.layer_stats.emit(dict(m.layers))

    def _set_progress(self, step: int, total: int) -> None:
        """In whole percents: QProgressBar repaints itself at once (not on the next frame)
        whenever its bar moves a pixel, which cost 2 ms per report."""
        percent = 100 * step // max(1, total)
        if percent != self.progress.value():
            self._show_percent(percent)

    def _tab_changed(self, _index: int) -> None:
        """Hidden views skip redraws while data comes: bring the one shown up to date."""
        if self.tabs.currentWidget() is self.plots_host and self._plots is not None:
            self._sync_plots()
            self._plots.redraw()
        self._show_layers()

    def _show_layers(self) -> None:
        if self.metrics is not None:
            self.layers.show_stats(self.metrics.layers.values())

    # ------------------------------------------------------------ experiments
    def new_experiment(self) -> QueueItem | None:
        """Define a sweep or a course experiment of the document as it is now, and queue it
        (it starts at once when nothing trains)."""
        report = self.document.report
        if not report.ok:
            self.message.emit(f"fix the graph first: {report.errors[0].message}")
            return None
        from app.ui.experiment_dialog import ExperimentDialog

        config, project = self.run_setup()
        dialog = ExperimentDialog(project, self.window())
        self._dialog = dialog  # reachable while it is open (tests drive it)
        if dialog.exec() != ExperimentDialog.DialogCode.Accepted or dialog.result_spec is None:
            return None
        item = QueueItem(dialog.result_title, to_json(project), config, dialog.result_spec)
        self.tabs.setCurrentWidget(self.experiments)
        self.experiments.add(item, run=True)
        return item

    def _start_item(self, item: QueueItem) -> bool:
        from app.core.experiments.session import drive_sweep

        return self.start_job(
            item.project_json,
            item.config,
            item.spec.name,
            drive_sweep,
            {"sweep": item.spec.to_dict()},
        )

    def compare_ticked(self) -> None:
        folders = self.history.ticked()
        if len(folders) < 2:
            self.message.emit("tick two runs or more in History to compare them")
            return
        self.open_comparison(folders)

    def open_comparison(self, folders: list[str]):
        from app.ui.compare_dialog import CompareDialog, load_runs

        runs, problems = load_runs(folders)
        for problem in problems:
            self.message.emit(problem)
        if len(runs) < 2:
            self.message.emit("two readable runs are needed for a comparison")
            return None
        dialog = CompareDialog(runs, self.window())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.comparison = dialog
        return dialog

    # ---------------------------------------------------------------- history
    def _load_history(self) -> None:
        self.history.load(self.document.project.name)

    # ----------------------------------------------------------------- export
    def export(self, kind: str, path: Path):
        """Export the last run's weights, code or bundle (see :class:`ResultsTab`)."""
        return self.results_tab.export(kind, path)
