"""Batch augmentation on the training device: every transform works on a whole (N, C, H, W)
batch with tensor ops and a seeded generator, so small datasets never leave the GPU.

Order: uint8 → float [0, 1] → crop, flips, colour jitter → normalise → cutout → mixup.
Validation batches are only converted and normalised.
"""

from __future__ import annotations

import random

import torch

from app.core.training.config import TrainConfig
from app.core.training.portable.augment_ops import (
    color_jitter,
    cutout,
    mixup,
    random_crop,
    random_flip,
)


class Augmenter:
    """Turns uint8 batches into normalised float batches, augmenting training batches."""

    def __init__(
        self,
        config: TrainConfig,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device,
        generator: torch.Generator,
        rng: random.Random,
    ) -> None:
        """``generator`` (on the device) draws the per-image randomness; ``rng`` the host-side
        per-batch numbers (mixup's λ)."""
        self.config = config
        self.rng = rng
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.gen = generator

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() / 255 - self.mean) / self.std

    def train(
        self, images: torch.Tensor, labels: torch.Tensor, classes: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented batch and targets: class indices, or soft targets (N, classes) for mixup."""
        c = self.config
        x = images.float() / 255
        if c.crop_padding:
            x = random_crop(x, c.crop_padding, self.gen)
        if c.hflip:
            x = random_flip(x, -1, self.gen)
        if c.vflip:
            x = random_flip(x, -2, self.gen)
        if c.color_jitter:
            x = color_jitter(x, c.color_jitter, self.gen)
        x = (x - self.mean) / self.std
        if c.cutout:
            x = cutout(x, c.cutout, self.gen)
        if c.mixup_alpha:
            return mixup(x, labels, classes, c.mixup_alpha, self.gen, self.rng)
        return x, labels
