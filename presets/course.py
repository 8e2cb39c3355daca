"""Course and CIFAR-sized presets (32×32×3 or 28×28×1 inputs, 10 classes)."""

from __future__ import annotations

from app.core.graph import Graph
from presets.builder import Chain
from presets.registry import preset


@preset(
    "lenet5",
    "LeNet-5",
    "LeCun et al., 1998, 'Gradient-based learning applied to document recognition': two "
    "5×5 convolutions with tanh and average pooling, then three fully connected layers. "
    "The first CNN trained end to end with backprop.",
    "1×28×28",
    ("lenet", "mnist", "course"),
)
def lenet5() -> Graph:
    c = Chain()
    c.input(1, 28, 28)
    c.add("conv2d", out_channels=6, kernel_h=5, kernel_w=5, padding=2)
    c.add("tanh")
    c.add("avgpool2d", kernel_size=2)
    c.add("conv2d", out_channels=16, kernel_h=5, kernel_w=5)
    c.add("tanh")
    c.add("avgpool2d", kernel_size=2)
    c.add("flatten")
    c.add("linear", out_features=120)
    c.add("tanh")
    c.add("linear", out_features=84)
    c.add("tanh")
    c.add("linear", out_features=10)
    c.add("output", classes=10)
    return c.graph


def _resnet_cifar(
    blocks: tuple[int, ...], kind: str, version: str = "v1.5", se_reduction: int = 0
) -> Graph:
    c = Chain()
    c.input(3, 32, 32)
    c.add("conv_bn_relu", out_channels=64, kernel_size=3, stride=1, padding=1)
    for stage, count in enumerate(blocks):
        for i in range(count):
            c.add(
                "residual",
                kind=kind,
                channels=64 * 2**stage,
                stride=2 if stage and i == 0 else 1,
                version=version,
                se_reduction=se_reduction,
            )
    if version == "v2":
        c.add("batchnorm2d")
        c.add("relu")
    c.add("global_avgpool")
    c.add("linear", out_features=10)
    c.add("output", classes=10)
    return c.graph


@preset(
    "resnet18_cifar",
    "ResNet-18 (CIFAR)",
    "He et al., 2016, 'Deep residual learning for image recognition', adapted to 32×32 "
    "inputs: a 3×3 stem without max-pool, four stages of two basic residual blocks "
    "(64, 128, 256, 512 channels), global average pooling and a 10-way classifier.",
    "3×32×32",
    ("resnet", "cifar10"),
)
def resnet18_cifar() -> Graph:
    return _resnet_cifar((2, 2, 2, 2), "basic")
