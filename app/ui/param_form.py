"""Editors generated from parameter specs (blocks.params.Param), shared by the inspector and
the training panel. Ranges come from the specs, so editors refuse out-of-range values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence, QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from blocks.params import Param

Apply = Callable[[str, Any], None]


class _DocumentUndoKeys(QObject):
    """Ctrl+Z / Ctrl+Shift+Z in a parameter field undo the document, as everywhere else in
    the window: a line edit would take the keys for its own text (issue 14.10). Installed on
    each editor (an application-wide filter ran Python for every event of the window)."""

    def eventFilter(self, watched, event) -> bool:
        # True: the field never sees the override, so the window's Undo/Redo takes the key
        return event.type() == QEvent.Type.ShortcutOverride and (
            event.matches(QKeySequence.StandardKey.Undo)
            or event.matches(QKeySequence.StandardKey.Redo)
        )


_UNDO_KEYS: _DocumentUndoKeys | None = None


def pass_undo_keys(editor: QWidget) -> None:
    """Let Undo/Redo in ``editor`` (and its inner line edit) reach the window's actions."""
    global _UNDO_KEYS
    if _UNDO_KEYS is None:
        _UNDO_KEYS = _DocumentUndoKeys()
    for widget in (editor, *editor.findChildren(QLineEdit)):
        widget.installEventFilter(_UNDO_KEYS)


class _WheelWhenFocused:
    """The wheel changes a field only once it has the focus (a click or Tab); otherwise it
    scrolls the form: scrolling the settings edited whatever field passed under the cursor
    (seen on a real display: val size 2000 became 1994)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # type: ignore[attr-defined]

    def wheelEvent(self, event) -> None:
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()  # to the scroll area around the form


class SpinBox(_WheelWhenFocused, QSpinBox):
    pass


class ComboBox(_WheelWhenFocused, QComboBox):
    pass


class SciSpinBox(_WheelWhenFocused, QDoubleSpinBox):
    """A float spin box that shows 1e-08 as 1e-08, not 0.000000 (learning rates, epsilons)."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        stripped = text.strip()
        if not stripped:
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(stripped)
        except ValueError:
            partial = stripped.lower().rstrip("e+-.")
            ok = not partial or partial.replace(".", "", 1).lstrip("-").isdigit()
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


def make_editor(spec: Param, value: Any, apply: Apply) -> QWidget:
    """A widget for ``spec`` showing ``value``; calls ``apply(name, new_value)`` on a change
    (the caller validates, e.g. through the model, and may refuse with a reason)."""
    name = spec.name
    if spec.kind == "bool":
        box = QCheckBox()
        box.setChecked(bool(value))
        box.toggled.connect(lambda v: apply(name, v))
        editor: QWidget = box
    elif spec.kind == "choice":
        combo = ComboBox()
        combo.addItems(list(spec.choices))
        combo.setCurrentText(str(value))
        combo.currentTextChanged.connect(lambda v: apply(name, v))
        editor = combo
    elif spec.kind == "float":
        spin = SciSpinBox()
        spin.setRange(
            spec.minimum if spec.minimum is not None else -1e9,
            spec.maximum if spec.maximum is not None else 1e9,
        )
        if spec.max_exclusive:
            spin.setMaximum(spec.maximum - 1e-6)  # type: ignore[operator]
        spin.setSingleStep(0.1 if (spec.maximum or 10) <= 10 else 1.0)
        spin.setValue(float(value))
        spin.editingFinished.connect(lambda: apply(name, spin.value()))
        editor = spin
    elif spec.kind in ("text", "ints"):
        line = QLineEdit(_text(value))
        if spec.kind == "ints":
            line.setPlaceholderText("comma-separated whole numbers, e.g. 30, 60, 90")
        line.editingFinished.connect(
            lambda: apply(name, _ints(line.text()) if spec.kind == "ints" else line.text())
        )
        editor = line
    else:
        ispin = SpinBox()
        low = int(spec.minimum if spec.minimum is not None else 0)
        if spec.kind == "padding":  # the lowest value means 'same'
            low -= 1
            ispin.setSpecialValueText("same")
        ispin.setRange(low, int(spec.maximum if spec.maximum is not None else 2**31 - 1))
        set_editor_value(ispin, value)
        padding = spec.kind == "padding"
        ispin.editingFinished.connect(
            lambda: apply(
                name, "same" if padding and ispin.value() == ispin.minimum() else ispin.value()
            )
        )
        editor = ispin
    editor.setToolTip(f"{spec.help}\nRange: {spec.describe_range()}")
    pass_undo_keys(editor)
    return editor


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _ints(text: str) -> Any:
    """'30, 60' → [30, 60]; anything unreadable is passed on as text for the spec to refuse."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        return [int(p) for p in parts]
    except ValueError:
        return text


def set_editor_value(editor: QWidget, value: Any) -> None:
    """Show ``value`` without emitting change signals."""
    editor.blockSignals(True)
    try:
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QDoubleSpinBox):
            editor.setValue(float(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(editor.minimum() if value == "same" else int(value))
        elif isinstance(editor, QLineEdit):
            editor.setText(_text(value))
    finally:
        editor.blockSignals(False)
