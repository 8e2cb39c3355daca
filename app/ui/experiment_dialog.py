"""Train → New Experiment…: what to vary (training settings and block parameters, one per
line as on the command line, or a course experiment's variants), how (grid, random, TPE),
how many seeds per point and which metric; a live preview counts the runs or says what is
wrong. The experiment joins the queue of the Experiments tab."""

from __future__ import annotations

import secrets
import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
)

from app.core.experiments.runs import METRICS
from app.core.experiments.space import SweepError
from app.core.experiments.sweep import SAMPLERS, SweepSpec, design
from app.core.experiments.templates import TEMPLATES
from app.core.serialization import Project
from app.core.training.config import TrainConfig, settings

PREVIEW_DELAY_MS = 150
#: the settings offered first in the Insert list (the others follow)
COMMON = ("lr", "batch_size", "optimizer", "weight_decay", "momentum", "schedule", "epochs")


def sweepable_names(project: Project) -> list[tuple[str, str]]:
    """(name, example line) for every setting and block parameter a sweep can vary."""
    specs = {p.name: p for p in settings()}
    config = TrainConfig.from_dict(project.training) if project.training else TrainConfig()
    out = []
    for name in (*COMMON, *(n for n in specs if n not in COMMON)):
        p = specs[name]
        if p.kind in ("int", "float", "bool", "choice"):
            out.append((name, _example(name, p, getattr(config, name))))
    graph = project.graph
    for nid, node in graph.nodes.items():
        for p in graph.block(nid).params:
            if p.kind in ("int", "float", "bool", "choice") and node.type_id != "input":
                out.append((f"{nid}.{p.name}", _example(f"{nid}.{p.name}", p, node.params[p.name])))
    return out


def _example(name: str, p, value) -> str:
    if p.kind == "choice":
        return f"{name}={','.join(p.choices[:3])}"
    if p.kind == "bool":
        return f"{name}=false,true"
    if name in ("lr", "eps") or (p.kind == "float" and value and value < 0.01):
        return f"{name}=log:{value / 10:g}..{value * 10:g}:3"
    if p.kind == "int":
        return f"{name}={max(1, value // 2)},{value},{value * 2}"
    return f"{name}={value:g},{min(value * 2, p.maximum or value * 2):g}"


class ExperimentDialog(QDialog):
    def __init__(self, project: Project, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New experiment")
        self.project = project
        self.result_spec: SweepSpec | None = None
        self.result_title = ""
        self.template = QComboBox()
        self.template.addItem("none: choose what to vary below", "")
        for t in TEMPLATES.values():
            self.template.addItem(t.title, t.name)
        self.claim = QLabel()
        self.claim.setWordWrap(True)
        self.claim.setStyleSheet("color: palette(mid);")
        self.params = QPlainTextEdit()
        self.params.setPlaceholderText(
            "one per line: NAME=V1,V2 or NAME=[log:]LOW..HIGH[:POINTS]\n"
            "lr=log:1e-3..1e-1:3\nconv2d_1.out_channels=16,32"
        )
        self.params.setTabChangesFocus(True)
        self.insert = QComboBox()
        self.insert.addItem("Insert a setting or block parameter…", "")
        for name, example in sweepable_names(project):
            self.insert.addItem(name, example)
        self.insert.activated.connect(self._insert)
        self.sampler = QComboBox()
        for name, text in zip(
            SAMPLERS,
            ("grid: every combination", "random points", "TPE: model-based search"),
            strict=True,
        ):
            self.sampler.addItem(text, name)
        self.trials = QSpinBox(minimum=1, maximum=10000, value=8)
        self.seeds = QSpinBox(minimum=1, maximum=100, value=1)
        self.seeds.setToolTip("Runs per point (seed, seed+1, …): tables show mean ± 95% interval")
        self.metric_choice = QComboBox()
        for m in METRICS.values():
            self.metric_choice.addItem(m.title, m.name)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setTextFormat(Qt.TextFormat.RichText)
        # room for four lines from the start: a preview that grows moved the fields above
        self.preview.setMinimumHeight(4 * self.preview.fontMetrics().lineSpacing())
        self.preview.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form = QFormLayout()
        form.addRow("Course experiment", self.template)
        form.addRow("", self.claim)
        form.addRow("Vary", self.params)
        form.addRow("", self.insert)
        form.addRow("Search", self.sampler)
        form.addRow("Trials (random, TPE)", self.trials)
        form.addRow("Seeds per point", self.seeds)
        form.addRow("Metric", self.metric_choice)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add to Queue")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.update_preview)
        self.params.textChanged.connect(self._timer.start)
        for combo in (self.template, self.sampler, self.metric_choice):
            combo.currentIndexChanged.connect(self.update_preview)
        for spin in (self.trials, self.seeds):
            spin.valueChanged.connect(self.update_preview)
        self.template.currentIndexChanged.connect(self._template_changed)
        self.resize(560, 520)
        self.update_preview()

    def _insert(self, index: int) -> None:
        example = self.insert.itemData(index)
        if example:
            text = self.params.toPlainText().rstrip("\n")
            self.params.setPlainText((text + "\n" if text else "") + example)
            self.params.setFocus()
        self.insert.setCurrentIndex(0)

    def _template_changed(self) -> None:
        name = self.template.currentData()
        if name:
            t = TEMPLATES[name]
            self.claim.setText(f"{t.claim} Variants: {', '.join(t.variants)}.")
            self.seeds.setValue(max(self.seeds.value(), 3))
            self.sampler.setCurrentIndex(SAMPLERS.index("grid"))
        else:
            self.claim.setText("")

    def spec(self) -> SweepSpec:
        """The experiment as defined now; raises SweepError with the reason."""
        lines = [ln.strip() for ln in self.params.toPlainText().splitlines() if ln.strip()]
        name = self.template.currentData()
        if name:
            problem = TEMPLATES[name].problem(self.project.graph)
            if problem:
                raise SweepError(problem)
            lines.insert(0, TEMPLATES[name].spec().params[0])
        seeds = self.seeds.value()
        if not lines:
            if seeds < 2:
                raise SweepError(
                    "write what to vary, one per line (NAME=VALUES), or pick a course "
                    "experiment; or raise Seeds per point to repeat the current settings"
                )
            base = TrainConfig.from_dict(self.project.training).seed
            lines = [f"seed={','.join(str(base + i) for i in range(seeds))}"]
            seeds = 1  # a repeat: the seeds are the points, one configuration
        # the second and a random tag: two experiments queued within one second are two
        # sweeps (the same name would join the first sweep's study, or be refused)
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        spec = SweepSpec(
            tuple(lines),
            self.sampler.currentData(),
            trials=self.trials.value() if self.sampler.currentData() != "grid" else 0,
            seeds=seeds,
            metric=self.metric_choice.currentData(),
            name=f"{self.project.name or 'sweep'}-{name or 'sweep'}-{stamp}",
            template=name,
        )
        dims = spec.dimensions(self.project)
        if spec.sampler != "grid":
            for d in dims:
                if not d.is_range and len(d.values) < 2 and len(dims) == 1:
                    raise SweepError(f"{d.name}: one value leaves nothing to search")
        return spec

    def update_preview(self) -> None:
        self.trials.setEnabled(self.sampler.currentData() != "grid")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            spec = self.spec()
            dims = spec.dimensions(self.project)
            points = len(design(spec, dims)) if spec.sampler != "tpe" else spec.trials
        except SweepError as exc:
            self.preview.setText(f"<span style='color:#b00020'>{_escape(str(exc))}</span>")
            ok.setEnabled(False)
            return
        config = TrainConfig.from_dict(self.project.training) if self.project.training else None
        epochs = config.epochs if config else TrainConfig().epochs
        runs = points * spec.seeds
        lines = "<br>".join(_escape(d.text()) for d in dims)
        self.preview.setText(
            f"{lines}<br><b>{points} point(s) × {spec.seeds} seed(s) = {runs} run(s)</b> of "
            f"{epochs} epoch(s) each, one after another; each is an ordinary run in History."
        )
        ok.setEnabled(True)

    def _accept(self) -> None:
        try:
            self.result_spec = self.spec()
        except SweepError as exc:
            self.preview.setText(f"<span style='color:#b00020'>{_escape(str(exc))}</span>")
            return
        name = self.template.currentData()
        names = [p.split("=")[0] for p in self.result_spec.params]
        if name:
            self.result_title = TEMPLATES[name].title
        elif names == ["seed"]:
            self.result_title = f"Repeat the current settings ×{self.seeds.value()}"
        else:
            self.result_title = "; ".join(names)
        self.accept()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
