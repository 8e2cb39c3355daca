"""Composite and merge modules used by compiled and exported models.

Every class here imports only torch, so the exporter can copy its source verbatim
into a standalone file. State-dict keys follow torchvision (``conv1``, ``bn1``,
``downsample``, ``squeeze``/``expand1x1``, ``branch1``...) so torchvision weights map
onto them directly.
"""

from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    """Element-wise sum of all inputs (residual connection)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Concatenate inputs along the channel dimension."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Multiply(nn.Module):
    """Element-wise product of two inputs, broadcasting (gating)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


class ConvUnit(nn.Module):
    """Conv → BatchNorm → ReLU, the standard CNN unit (without ``batch_norm``: a conv
    with a bias, then ReLU)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        batch_norm: bool = True,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm
        )
        self.bn = (
            nn.BatchNorm2d(out_channels, eps=bn_eps) if batch_norm else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: rescale channels by a gate from their global average."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.relu(self.fc1(self.avgpool(x)))))
        return x * scale


def _shortcut(in_channels: int, out_channels: int, stride: int, bn: bool) -> nn.Module:
    """1×1 projection shortcut, or identity when shapes already agree."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    conv = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
    return (
        nn.Sequential(conv, nn.BatchNorm2d(out_channels)) if bn else nn.Sequential(conv)
    )


class ResidualBlock(nn.Module):
    """ResNet basic block (two 3×3 convs), post-activation (v1)."""

    expansion = 1
    branch_end = "bn2"  # zero-initialised to start as an identity (zero_init_residual)

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, channels, stride, bn=True)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.downsample(x))


class SEResidualBlock(ResidualBlock):
    """Basic block with a squeeze-and-excitation gate on its branch (SE-ResNet)."""

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, *, se_channels: int
    ) -> None:
        super().__init__(in_channels, channels, stride)
        self.se = SqueezeExcite(channels, se_channels)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(super().branch(x))


class BottleneckBlock(nn.Module):
    """ResNet bottleneck block (1×1 → 3×3 → 1×1, ×4 channels), post-activation.

    ``stride_on_3x3`` selects v1.5 (torchvision, stride on the 3×3 conv) over v1
    (stride on the first 1×1 conv). ``groups`` and ``base_width`` give ResNeXt and
    wide ResNets.
    """

    expansion = 4
    branch_end = "bn3"  # zero-initialised to start as an identity (zero_init_residual)

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
        stride_on_3x3: bool = True,
    ) -> None:
        super().__init__()
        width = int(channels * (base_width / 64.0)) * groups
        out_channels = channels * self.expansion
        s1, s3 = (1, stride) if stride_on_3x3 else (stride, 1)
        self.conv1 = nn.Conv2d(in_channels, width, 1, s1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, s3, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride, bn=True)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.downsample(x))


class SEBottleneckBlock(BottleneckBlock):
    """Bottleneck block with a squeeze-and-excitation gate on its branch (SE-ResNet)."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
        stride_on_3x3: bool = True,
        *,
        se_channels: int,
    ) -> None:
        super().__init__(
            in_channels, channels, stride, groups, base_width, stride_on_3x3
        )
        self.se = SqueezeExcite(channels * self.expansion, se_channels)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(super().branch(x))


class PreActResidualBlock(nn.Module):
    """Pre-activation basic block (ResNet v2): BN → ReLU → conv, twice."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        self.downsample = _shortcut(in_channels, channels, stride, bn=False)

    def branch(self, pre: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.bn2(self.conv1(pre))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = (
            x if isinstance(self.downsample, nn.Identity) else self.downsample(pre)
        )
        return self.branch(pre) + shortcut


class SEPreActResidualBlock(PreActResidualBlock):
    """Pre-activation basic block with a squeeze-and-excitation gate on its branch."""

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, *, se_channels: int
    ) -> None:
        super().__init__(in_channels, channels, stride)
        self.se = SqueezeExcite(channels, se_channels)

    def branch(self, pre: torch.Tensor) -> torch.Tensor:
        return self.se(super().branch(pre))


class PreActBottleneckBlock(nn.Module):
    """Pre-activation bottleneck block (ResNet v2)."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = int(channels * (base_width / 64.0)) * groups
        out_channels = channels * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.relu = nn.ReLU()
        self.downsample = _shortcut(in_channels, out_channels, stride, bn=False)

    def branch(self, pre: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        return self.conv3(self.relu(self.bn3(out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = (
            x if isinstance(self.downsample, nn.Identity) else self.downsample(pre)
        )
        return self.branch(pre) + shortcut


class SEPreActBottleneckBlock(PreActBottleneckBlock):
    """Pre-activation bottleneck block with a squeeze-and-excitation gate."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
        *,
        se_channels: int,
    ) -> None:
        super().__init__(in_channels, channels, stride, groups, base_width)
        self.se = SqueezeExcite(channels * self.expansion, se_channels)

    def branch(self, pre: torch.Tensor) -> torch.Tensor:
        return self.se(super().branch(pre))


class Inception(nn.Module):
    """GoogLeNet inception module: 1×1, 1×1→3×3, 1×1→k×k and pool→1×1 branches.

    The branches are concatenated along channels. torchvision's GoogLeNet uses
    ``kernel=3`` in the third branch (``kernel=5`` is the paper).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        kernel: int = 5,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        eps = 0.001
        self.branch1 = ConvUnit(
            in_channels, ch1x1, 1, batch_norm=batch_norm, bn_eps=eps
        )
        self.branch2 = nn.Sequential(
            ConvUnit(in_channels, ch3x3red, 1, batch_norm=batch_norm, bn_eps=eps),
            ConvUnit(ch3x3red, ch3x3, 3, padding=1, batch_norm=batch_norm, bn_eps=eps),
        )
        self.branch3 = nn.Sequential(
            ConvUnit(in_channels, ch5x5red, 1, batch_norm=batch_norm, bn_eps=eps),
            ConvUnit(
                ch5x5red,
                ch5x5,
                kernel,
                padding=kernel // 2,
                batch_norm=batch_norm,
                bn_eps=eps,
            ),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            ConvUnit(in_channels, pool_proj, 1, batch_norm=batch_norm, bn_eps=eps),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, 1)


class Fire(nn.Module):
    """SqueezeNet fire module: 1×1 squeeze, then 1×1 and 3×3 expand, concatenated."""

    def __init__(
        self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int
    ) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(x)),
                self.expand3x3_activation(self.expand3x3(x)),
            ],
            1,
        )


class NiNBlock(nn.Module):
    """Network-in-network block: a k×k conv followed by two 1×1 convs, each with ReLU.

    The 1×1 convs have ``mid_channels`` and ``out_channels`` filters (both default to
    the k×k conv's ``channels``), as in NiN for CIFAR-10 (192 → 160 → 96).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        mid_channels: int = 0,
        out_channels: int = 0,
    ) -> None:
        super().__init__()
        mid = mid_channels or channels
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size, stride, padding)
        self.conv2 = nn.Conv2d(channels, mid, 1)
        self.conv3 = nn.Conv2d(mid, out_channels or channels, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.relu(self.conv3(x))


class DenseLayer(nn.Module):
    """DenseNet layer (BN-ReLU-conv 1×1, BN-ReLU-conv 3×3) whose ``growth_rate`` new
    channels are concatenated to its input, as torchvision's ``_DenseLayer``."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int = 4) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv1(self.relu1(self.norm1(x)))
        new = self.conv2(self.relu2(self.norm2(new)))
        return torch.cat([x, new], 1)


class InvertedResidual(nn.Module):
    """MobileNetV2 block, as torchvision's: 1×1 expand (BN, ReLU6), 3×3 depthwise (BN,
    ReLU6), linear 1×1 project (BN); the input added back when the shape is kept."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: int = 6,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, hidden, 1, bias=False),
                    nn.BatchNorm2d(hidden),
                    nn.ReLU6(inplace=True),
                )
            )
        layers += [
            nn.Sequential(
                nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
            ),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)
