"""The importer's one error type (no torch needed to catch it)."""

from __future__ import annotations


class ImportFailure(ValueError):
    """The model cannot be imported; the message says why and what to do. Nothing was
    half-imported."""
