"""The bar that says when the chosen dataset does not fit the network, with the fixes as one
click each: switch to the built-in dataset that fits, or adapt the Input and the classifier."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from app.core.training.config import TrainConfig
from app.core.training.fit import (
    adapt_changes,
    adapt_target,
    dataset_fixes,
    dataset_problem,
    fitting_dataset,
)
from app.ui.document import Document


class DatasetFitBar(QFrame):
    """Hidden while the dataset fits. ``refresh`` after graph or settings changes."""

    message = Signal(str)  # what a fix changed, for the status line

    def __init__(self) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.switch_button = QPushButton()
        self.adapt_button = QPushButton("Adapt Input && Classifier")
        self.switch_button.clicked.connect(self.switch)
        self.adapt_button.clicked.connect(self.adapt)
        buttons = QHBoxLayout()
        buttons.addWidget(self.switch_button)
        buttons.addWidget(self.adapt_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        self.document: Document | None = None
        self.config = TrainConfig()
        self.problem = ""
        self.hide()

    def refresh(self, document: Document, config: TrainConfig) -> str:
        """Show or hide the bar for ``document`` and ``config``; returns the problem."""
        self.document, self.config = document, config
        report = document.report
        self.problem = dataset_problem(config.dataset, report)
        if self.problem:
            fitting = fitting_dataset(report)
            fixes = dataset_fixes(config.dataset, report, document.graph)
            self.label.setText(  # str.capitalize() would lower-case "Input"
                f"<b>The dataset does not fit:</b> {self.problem}. {fixes[:1].upper()}{fixes[1:]}."
            )
            self.switch_button.setVisible(fitting is not None)
            self.switch_button.setText(f"Use {fitting}")
            self.adapt_button.setText(f"Adapt Input && Classifier to {config.dataset}")
            # a button that would change nothing is not offered (an Input with no network)
            self.adapt_button.setVisible(
                bool(adapt_changes(config.dataset, document.graph, report))
            )
        self.setVisible(bool(self.problem))
        return self.problem

    def switch(self) -> None:
        """Change the dataset to the built-in one that fits (one undoable step)."""
        assert self.document is not None
        fitting = fitting_dataset(self.document.report)
        if fitting:
            self.document.set_training(self.config.replace(dataset=fitting).changed())

    def adapt(self) -> None:
        """Set the Input to the dataset's images and the classifier to its classes."""
        assert self.document is not None
        shape, classes = adapt_target(self.config.dataset, self.document.report)
        changes = self.document.adapt_to(shape, classes, self.config.dataset)
        self.message.emit(
            f"adapted to {self.config.dataset}: {'; '.join(changes)} (Edit → Undo takes it back)"
        )
