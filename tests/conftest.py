"""Test configuration: Qt runs offscreen (set before any Qt import) and torch stays small."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch

torch.set_num_threads(min(2, torch.get_num_threads()))
