"""Test configuration: Qt runs offscreen (set before any Qt import), torch stays small, and
nothing a test does reaches the user's own autosave or runs folders: tests/ui/conftest.py
gives each GUI test folders of its own, and these catch whatever outlives a test (a window
whose autosave timer fires after its test's folders were restored)."""

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["NETBUILDER_AUTOSAVE_DIR"] = tempfile.mkdtemp(prefix="netbuilder-tests-autosave-")
os.environ["NETBUILDER_RUNS_DIR"] = tempfile.mkdtemp(prefix="netbuilder-tests-runs-")

import torch

torch.set_num_threads(min(2, torch.get_num_threads()))
