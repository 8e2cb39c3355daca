"""Preset architectures, registered on import. No Qt."""

from presets import course  # noqa: F401  (registers presets)
from presets.registry import Preset, UnknownPresetError, get, names, preset

__all__ = ["Preset", "UnknownPresetError", "get", "names", "preset"]
