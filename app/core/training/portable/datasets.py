"""Torch-only helpers for torchvision's datasets, shared by the engine and exported
training scripts."""

from __future__ import annotations

import torch


def as_nchw(data: object) -> torch.Tensor:
    """A dataset's ``data`` as uint8 N×C×H×W: MNIST keeps N×H×W, CIFAR N×H×W×C (numpy),
    SVHN is already N×C×H×W."""
    images = torch.as_tensor(data).to(torch.uint8)
    if images.ndim == 3:
        return images.unsqueeze(1)
    if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        return images.permute(0, 3, 1, 2).contiguous()
    return images
