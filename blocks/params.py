"""Parameter specifications: the typed, validated knobs a block exposes to users."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ParamKind = Literal["int", "float", "bool", "choice", "padding", "ints", "text"]


class InvalidParamError(ValueError):
    """A parameter value is out of range, of the wrong type, or unknown to the block."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"{param}: {reason}")
        self.param = param
        self.reason = reason


@dataclass(frozen=True)
class Param:
    """One parameter of a block type.

    ``kind`` is ``int``, ``float``, ``bool``, ``choice`` (one of ``choices``), ``padding``
    (a non-negative int or the string ``"same"``) or ``ints`` (a list of whole numbers, each
    within the bounds, stored as a tuple) or ``text``. Numeric bounds are inclusive unless
    ``max_exclusive`` is set (dropout's ``p`` lies in [0, 1)).
    """

    name: str
    kind: ParamKind
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    max_exclusive: bool = False
    choices: tuple[str, ...] = ()

    def validate(self, value: Any) -> Any:
        """Return ``value`` normalised to this parameter's type, or raise InvalidParamError."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise InvalidParamError(self.name, f"expected true or false, got {value!r}")
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise InvalidParamError(
                self.name, f"expected one of {', '.join(self.choices)}; got {value!r}"
            )
        if self.kind == "padding" and value == "same":
            return value
        if self.kind == "text":
            if not isinstance(value, str) or len(value) > 4096:
                raise InvalidParamError(self.name, f"expected text, got {value!r}")
            return value
        if self.kind == "ints":
            if not isinstance(value, list | tuple):
                raise InvalidParamError(
                    self.name, f"expected a list of whole numbers, got {value!r}"
                )
            item = Param(self.name, "int", 0, self.help, self.minimum, self.maximum)
            return tuple(item.validate(v) for v in value)
        if self.kind in ("int", "padding"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    extra = " or 'same'" if self.kind == "padding" else ""
                    raise InvalidParamError(
                        self.name, f"expected a whole number{extra}, got {value!r}"
                    )
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParamError(self.name, f"expected a number, got {value!r}")
            try:
                value = float(value)
            except OverflowError:
                raise InvalidParamError(self.name, f"{value!r} is too large") from None
            if not math.isfinite(value):
                raise InvalidParamError(self.name, f"expected a finite number, got {value!r}")
        self._check_range(value)
        return value

    def _check_range(self, value: float) -> None:
        lo = 0 if self.kind == "padding" and self.minimum is None else self.minimum
        if lo is not None and value < lo:
            raise InvalidParamError(self.name, f"{value} is below the minimum {_fmt(lo)}")
        hi = self.maximum
        if hi is not None:
            if self.max_exclusive and value >= hi:
                raise InvalidParamError(self.name, f"{value} must be less than {_fmt(hi)}")
            if not self.max_exclusive and value > hi:
                raise InvalidParamError(self.name, f"{value} is above the maximum {_fmt(hi)}")

    def describe_range(self) -> str:
        """Human-readable range, e.g. ``[0, 1)`` or ``1 … 4096`` or ``relu, gelu``."""
        if self.kind == "choice":
            return ", ".join(self.choices)
        if self.kind == "bool":
            return "true / false"
        lo = "0" if self.kind == "padding" and self.minimum is None else _fmt(self.minimum)
        hi = _fmt(self.maximum) if self.maximum is not None else "∞"
        text = f"[{lo}, {hi})" if self.max_exclusive else f"{lo} … {hi}"
        return text + (" or same" if self.kind == "padding" else "")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-∞"
    return str(int(value)) if float(value).is_integer() else str(value)


def validate_params(
    specs: tuple[Param, ...], values: Mapping[str, Any], *, partial: bool = False
) -> dict[str, Any]:
    """Validate ``values`` against ``specs``.

    Returns a complete dict in spec order (defaults filled in), or, with ``partial``, only the
    given keys normalised. Raises InvalidParamError on the first unknown name or bad value.
    """
    known = {p.name: p for p in specs}
    for name in values:
        if name not in known:
            raise InvalidParamError(
                str(name), f"unknown parameter (known: {', '.join(known) or 'none'})"
            )
    if partial:
        return {name: known[name].validate(v) for name, v in values.items()}
    return {p.name: p.validate(values.get(p.name, p.default)) for p in specs}
