"""Models as a user writes them, imported by tests/imports/test_user_models.py."""

import torch
import torch.nn.functional as F
from torch import nn


class MixBlock(nn.Module):
    """A custom block: two branches concatenated, then a residual sum with the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.left = nn.Conv2d(channels, half, 3, padding=1, bias=False)
        self.right = nn.Conv2d(channels, half, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = torch.cat([self.left(x), self.right(x)], dim=1)
        return F.relu(self.bn(y) + x)


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(MixBlock(width), nn.MaxPool2d(2), MixBlock(width))
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = x.mean([2, 3])
        return self.head(x)


class ResidualBlock(nn.Module):
    """NetBuilder's class name and layers, not its computation: no ReLU after the sum."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Identity()

    def forward(self, x):
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.downsample(x)


class LookAlike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.block = ResidualBlock(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.block(self.conv(x)).mean([2, 3]))


class DropPathNet(nn.Module):
    """A residual branch dropped per sample (torchvision's StochasticDepth, which no block
    computes): imported with that module kept whole, as an opaque node."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.ops import StochasticDepth

        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.drop = StochasticDepth(0.2, "row")
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = F.relu(x + self.drop(self.branch(x)))
        return self.fc(x.mean([2, 3]))


def tiny_net(width: int = 8) -> nn.Module:
    """A factory, as torchvision's resnet18()."""
    return TinyNet(width=width)


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        if x.sum() > 0:  # control flow that depends on the data
            return self.conv(x)
        return self.conv(-x)


class UntraceableInside(nn.Module):
    """The data-dependent branch is in a submodule: the message names it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.gate = nn.Sequential(nn.Identity(), Untraceable())

    def forward(self, x):
        return self.gate(x)


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=-1)  # torch refuses it


def not_a_model():
    return {"conv": 3}
