"""Course and CIFAR-sized presets (32×32×3 or 28×28×1 inputs, 10 classes)."""

from __future__ import annotations

from app.core.graph import Graph
from presets.builder import Chain
from presets.parts import (
    SQUEEZENET_FIRES,
    VGG_CFGS,
    conv_relu,
    inception,
    resnet_stages,
    squeezenet_body,
    vgg_features,
)
from presets.registry import preset

CIFAR = "3×32×32"


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
    layers: tuple[int, ...], kind: str, version: str = "v1.5", se_reduction: int = 0
) -> Graph:
    """CIFAR ResNet: 3×3 stem without max-pool (32×32 stays 32×32 until stage 2)."""
    c = Chain()
    c.input(3, 32, 32)
    if version == "v2":  # pre-activation: the first block normalises its own input
        c.add("conv2d", out_channels=64, kernel_h=3, kernel_w=3, padding=1, bias=False)
    else:
        c.add("conv_bn_relu", out_channels=64, kernel_size=3, stride=1, padding=1)
    resnet_stages(c, layers, kind=kind, version=version, se_reduction=se_reduction)
    if version == "v2":
        c.add("batchnorm2d")
        c.add("relu")
    c.add("global_avgpool")
    c.add("linear", out_features=10)
    c.add("output", classes=10)
    return c.graph


_CIFAR_RESNET = (
    "He et al., 2016, 'Deep residual learning for image recognition', adapted to 32×32 "
    "inputs: a 3×3 stem without max-pool, four stages (64, 128, 256, 512 channels), global "
    "average pooling and a 10-way classifier."
)


@preset(
    "resnet18_cifar",
    "ResNet-18 (CIFAR)",
    _CIFAR_RESNET + " Two basic blocks per stage.",
    CIFAR,
    ("resnet", "cifar10"),
)
def resnet18_cifar() -> Graph:
    return _resnet_cifar((2, 2, 2, 2), "basic")


@preset(
    "resnet34_cifar",
    "ResNet-34 (CIFAR)",
    _CIFAR_RESNET + " 3, 4, 6 and 3 basic blocks per stage.",
    CIFAR,
    ("resnet", "cifar10"),
)
def resnet34_cifar() -> Graph:
    return _resnet_cifar((3, 4, 6, 3), "basic")


@preset(
    "resnet50_cifar",
    "ResNet-50 (CIFAR)",
    _CIFAR_RESNET + " 3, 4, 6 and 3 bottleneck blocks per stage (4× wider outputs).",
    CIFAR,
    ("resnet", "cifar10"),
)
def resnet50_cifar() -> Graph:
    return _resnet_cifar((3, 4, 6, 3), "bottleneck")


@preset(
    "preact_resnet18_cifar",
    "Pre-activation ResNet-18 (CIFAR)",
    "He et al., 2016, 'Identity mappings in deep residual networks' (ResNet v2): every block "
    "runs BN → ReLU → conv, so the shortcut is a clean identity path; one BN and ReLU follow "
    "the last block.",
    CIFAR,
    ("resnet", "preact", "cifar10"),
)
def preact_resnet18_cifar() -> Graph:
    return _resnet_cifar((2, 2, 2, 2), "basic", version="v2")


@preset(
    "se_resnet18_cifar",
    "SE-ResNet-18 (CIFAR)",
    "Hu, Shen and Sun, 2018, 'Squeeze-and-excitation networks': ResNet-18 (CIFAR) whose "
    "residual branches are rescaled channel-wise by a squeeze-excitation gate (reduction 16).",
    CIFAR,
    ("senet", "resnet", "cifar10"),
)
def se_resnet18_cifar() -> Graph:
    return _resnet_cifar((2, 2, 2, 2), "basic", se_reduction=16)


@preset(
    "alexnet_cifar",
    "AlexNet (CIFAR)",
    "AlexNet as the course adapts it to 32×32 images: five convolutions with ReLU and "
    "overlapping max-pooling (f=3, s=2, padding 1), no local response normalisation and no "
    "two-GPU split, then three fully connected layers with dropout.",
    CIFAR,
    ("alexnet", "cifar10", "course"),
)
def alexnet_cifar() -> Graph:
    c = Chain()
    c.input(3, 32, 32)
    c.sequential("features")
    conv_relu(c, 64, 5, 1, 2)
    c.add("maxpool2d", kernel_size=3, stride=2, padding=1)
    conv_relu(c, 192, 5, 1, 2)
    c.add("maxpool2d", kernel_size=3, stride=2, padding=1)
    conv_relu(c, 384, 3, 1, 1)
    conv_relu(c, 256, 3, 1, 1)
    conv_relu(c, 256, 3, 1, 1)
    c.add("maxpool2d", kernel_size=3, stride=2, padding=1)
    c.sequential(None)
    c.add("flatten")
    c.sequential("classifier")
    for _ in range(2):
        c.add("dropout", p=0.5)
        c.add("linear", out_features=1024)
        c.add("relu")
    c.add("linear", out_features=10)
    c.sequential(None)
    c.add("output", classes=10)
    return c.graph


@preset(
    "vgg_cifar",
    "VGG-13 (CIFAR)",
    "The course's 13-layer VGGNet for CIFAR-10: ten 3×3 convolutions (padding 1) in five "
    "stages separated by 2×2 max-pooling (32 → 1), then three fully connected layers. Without "
    "batch norm it needs a good initialisation (He) to train.",
    CIFAR,
    ("vgg", "cifar10", "course"),
)
def vgg_cifar() -> Graph:
    c = Chain()
    c.input(3, 32, 32)
    c.sequential("features")
    vgg_features(c, VGG_CFGS[13], bn=False)
    c.sequential(None)
    c.add("flatten")
    c.sequential("classifier")
    for _ in range(2):
        c.add("linear", out_features=512)
        c.add("relu")
        c.add("dropout", p=0.5)
    c.add("linear", out_features=10)
    c.sequential(None)
    c.add("output", classes=10)
    return c.graph


@preset(
    "nin_cifar",
    "Network in Network (CIFAR)",
    "Lin, Chen and Yan, 2014, 'Network in network', for CIFAR-10 as in the course: three NiN "
    "blocks (a conv followed by two 1×1 convs), max-pooling f=3, s=2 with ceil_mode so 32 → 16 "
    "→ 8, dropout 0.5 after pooling, and no linear layer: the last block outputs 10 class maps "
    "that global average pooling turns into scores.",
    CIFAR,
    ("nin", "cifar10", "course"),
)
def nin_cifar() -> Graph:
    c = Chain()
    c.input(3, 32, 32)
    c.add("nin_block", channels=192, kernel_size=5, padding=2, mid_channels=160, out_channels=96)
    c.add("maxpool2d", kernel_size=3, stride=2, ceil_mode=True)
    c.add("dropout", p=0.5)
    c.add("nin_block", channels=192, kernel_size=5, padding=2)
    c.add("maxpool2d", kernel_size=3, stride=2, ceil_mode=True)
    c.add("dropout", p=0.5)
    c.add("nin_block", channels=192, kernel_size=3, padding=1, out_channels=10)
    c.add("global_avgpool")
    c.add("output", classes=10)
    return c.graph


@preset(
    "googlenet_cifar",
    "GoogLeNet (CIFAR)",
    "GoogLeNet's nine inception modules (the paper's 5×5 third branch, batch-normalised) on "
    "32×32 images: a single 3×3 stem with 192 filters instead of the ImageNet stem, max-pooling "
    "after inception 3b and 4e (32 → 16 → 8), global average pooling and a 10-way classifier.",
    CIFAR,
    ("googlenet", "inception", "cifar10"),
    # 1.5 GMACs at 32×32 in many small convolutions: ~4× slower per image than ResNet-18
    training={"train_size": 200, "val_size": 100},
)
def googlenet_cifar() -> Graph:
    c = Chain()
    c.input(3, 32, 32)
    c.add("conv_bn_relu", out_channels=192, kernel_size=3, padding=1)
    for name in ("3a", "3b"):
        inception(c, name, 5)
    c.add("maxpool2d", kernel_size=3, stride=2, padding=1)
    for name in ("4a", "4b", "4c", "4d", "4e"):
        inception(c, name, 5)
    c.add("maxpool2d", kernel_size=3, stride=2, padding=1)
    for name in ("5a", "5b"):
        inception(c, name, 5)
    c.add("global_avgpool")
    c.add("dropout", p=0.4)
    c.add("linear", out_features=10)
    c.add("output", classes=10)
    return c.graph


@preset(
    "squeezenet_cifar",
    "SqueezeNet (CIFAR)",
    "SqueezeNet 1.1 (Iandola et al., 2016) on 32×32 images: a 3×3 stem with stride 1, fire "
    "modules with max-pooling (f=3, s=2, ceil_mode) to 16, 8 and 4, and the same classifier: "
    "dropout, a 1×1 conv to 10 class maps and global average pooling.",
    CIFAR,
    ("squeezenet", "fire", "cifar10"),
)
def squeezenet_cifar() -> Graph:
    c = Chain()
    c.input(3, 32, 32)
    c.sequential("features")
    conv_relu(c, 64, 3, 1, 1)
    c.add("maxpool2d", kernel_size=3, stride=2, ceil_mode=True)
    squeezenet_body(c, SQUEEZENET_FIRES["1_1"], 10)
    return c.graph


@preset(
    "mlp",
    "MLP",
    "A small multilayer perceptron for 28×28 greyscale images: flatten the pixels, two hidden "
    "layers of 256 and 128 ReLU units with dropout, and a 10-way output. The baseline that "
    "shows why convolutions help.",
    "1×28×28",
    ("mlp", "mnist", "course"),
)
def mlp() -> Graph:
    c = Chain()
    c.input(1, 28, 28)
    c.add("flatten")
    for width in (256, 128):
        c.add("linear", out_features=width)
        c.add("relu")
        c.add("dropout", p=0.2)
    c.add("linear", out_features=10)
    c.add("output", classes=10)
    return c.graph
