"""Preset architectures, registered on import. No Qt."""

from presets import course, imagenet  # noqa: F401  (registers presets)
from presets.registry import Preset, UnknownPresetError, all_presets, get, names, preset

__all__ = ["Preset", "UnknownPresetError", "all_presets", "get", "names", "preset"]
