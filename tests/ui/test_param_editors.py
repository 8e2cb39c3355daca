"""Editors generated from the specs cannot hold values the specs refuse."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.core.training.config import settings
from app.ui.param_form import SciSpinBox, make_editor
from blocks import REGISTRY

SPECS = [p for b in REGISTRY for p in b.params] + list(settings())


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_editor_ranges_come_from_the_spec(qtbot, spec):
    applied = []
    editor = make_editor(spec, spec.default, lambda name, value: applied.append(value))
    qtbot.addWidget(editor)
    assert spec.help in editor.toolTip()
    if isinstance(editor, QSpinBox):
        low = spec.minimum if spec.minimum is not None else 0
        if spec.kind == "padding":
            assert editor.minimum() == low - 1 and editor.specialValueText() == "same"
        else:
            assert editor.minimum() == low
        if spec.maximum is not None:
            assert editor.maximum() == spec.maximum
        editor.setValue(editor.minimum() - 5)  # clamped, never below
        assert editor.value() == editor.minimum()
    elif isinstance(editor, QDoubleSpinBox):
        if spec.minimum is not None:
            assert editor.minimum() == pytest.approx(spec.minimum)
        if spec.maximum is not None:
            assert (
                editor.maximum() < spec.maximum
                if spec.max_exclusive
                else (editor.maximum() == pytest.approx(spec.maximum))
            )
    elif isinstance(editor, QComboBox):
        assert [editor.itemText(i) for i in range(editor.count())] == list(spec.choices)
    else:
        assert isinstance(editor, QCheckBox | QLineEdit)


def test_scientific_spin_box_reads_and_refuses(qtbot):
    box = SciSpinBox()
    qtbot.addWidget(box)
    box.setRange(1e-8, 100.0)
    box.setValue(1e-8)
    assert box.text() == "1e-08"
    assert box.validate("abc", 0)[0] == QValidator.State.Invalid
    assert box.validate("1e-", 0)[0] == QValidator.State.Intermediate
    assert box.validate("500", 0)[0] == QValidator.State.Intermediate  # above the maximum
    assert box.validate("0.01", 0)[0] == QValidator.State.Acceptable


def _wheel(widget, steps: int = 1) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_form_and_edits_only_a_focused_field(qtbot):
    """Scrolling the settings must not edit the fields that pass under the cursor (on a
    real display, val size 2000 became 1994); a field with the focus takes the wheel."""
    from tests.ui.helpers import open_window

    win = open_window(qtbot, (1000, 700), active=True)
    panel = win.training
    win.docks["Training"].raise_()
    fields = [panel.editors[n] for n in ("val_size", "lr", "optimizer")]
    before = [panel.document.project.training.get(n) for n in ("val_size", "lr", "optimizer")]
    for field in fields:
        _wheel(field, -2)
    assert [panel.document.project.training.get(n) for n in ("val_size", "lr", "optimizer")] == (
        before
    )
    assert fields[0].value() == 2000 and fields[2].currentText() == "sgd"
    spin = fields[0]
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    _wheel(spin, 1)
    assert spin.value() == 2001
