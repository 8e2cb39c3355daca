"""ImageNet presets (3×224×224, 1000 classes), layer for layer as in torchvision.

Parameter counts equal torchvision's exactly, and the modules carry torchvision's names (node
module paths), so torchvision's ``state_dict`` loads by name, ``strict=True``, into the compiled
presets and their exported code.
"""

from __future__ import annotations

from app.core.graph import Graph
from presets.builder import Chain
from presets.parts import (
    RESNET_LAYERS,
    SQUEEZENET_FIRES,
    VGG_CFGS,
    conv_relu,
    inception,
    resnet_stages,
    squeezenet_body,
    vgg_features,
)
from presets.registry import preset

IMAGENET = "3×224×224"


def _classifier(c: Chain, features: int, hidden: int, *, dropout_first: bool) -> None:
    """AlexNet (dropout → linear → ReLU) or VGG (linear → ReLU → dropout) head, torchvision's
    ``classifier``."""
    c.sequential("classifier")
    for _ in range(2):
        if dropout_first:
            c.add("dropout", p=0.5)
        c.add("linear", out_features=hidden)
        c.add("relu")
        if not dropout_first:
            c.add("dropout", p=0.5)
    c.add("linear", out_features=features)
    c.sequential(None)
    c.add("output", classes=features)


@preset(
    "alexnet",
    "AlexNet",
    "Krizhevsky, Sutskever and Hinton, 2012, 'ImageNet classification with deep convolutional "
    "neural networks', in torchvision's single-GPU form (no LRN, no two-GPU split): five "
    "convolutions with overlapping max-pooling (f=3, s=2), then three fully connected layers "
    "with dropout. Started the deep learning era on GPUs.",
    IMAGENET,
    ("alexnet", "imagenet"),
    torchvision="alexnet",
)
def alexnet() -> Graph:
    c = Chain()
    c.input(3, 224, 224)
    c.sequential("features")
    conv_relu(c, 64, 11, 4, 2)
    c.add("maxpool2d", kernel_size=3, stride=2)
    conv_relu(c, 192, 5, 1, 2)
    c.add("maxpool2d", kernel_size=3, stride=2)
    conv_relu(c, 384, 3, 1, 1)
    conv_relu(c, 256, 3, 1, 1)
    conv_relu(c, 256, 3, 1, 1)
    c.add("maxpool2d", kernel_size=3, stride=2)
    c.sequential(None)
    c.add("adaptive_avgpool2d", path="avgpool", output_h=6, output_w=6)
    c.add("flatten", path="flatten")
    _classifier(c, 1000, 4096, dropout_first=True)
    return c.graph


def _vgg(depth: int, bn: bool) -> Graph:
    c = Chain()
    c.input(3, 224, 224)
    c.sequential("features")
    vgg_features(c, VGG_CFGS[depth], bn)
    c.sequential(None)
    c.add("adaptive_avgpool2d", path="avgpool", output_h=7, output_w=7)
    c.add("flatten", path="flatten")
    _classifier(c, 1000, 4096, dropout_first=False)
    return c.graph


def _register_vgg(depth: int, bn: bool) -> None:
    name = f"vgg{depth}" + ("_bn" if bn else "")
    convs = sum(1 for v in VGG_CFGS[depth] if v != "M")
    preset(
        name,
        f"VGG-{depth}" + (" (BN)" if bn else ""),
        "Simonyan and Zisserman, 2015, 'Very deep convolutional networks for large-scale image "
        f"recognition': {convs} stacked 3×3 convolutions (padding 1) in five stages separated by "
        "2×2 max-pooling, then three fully connected layers. "
        + (
            "With batch normalisation after every convolution (torchvision keeps the conv "
            "biases, which BN makes redundant). "
            if bn
            else ""
        )
        + "Shows that depth with small kernels beats large kernels.",
        IMAGENET,
        ("vgg", "imagenet") + (("batchnorm",) if bn else ()),
        torchvision=name,
    )(lambda: _vgg(depth, bn))


for _depth in (11, 13, 16, 19):
    for _bn in (False, True):
        _register_vgg(_depth, _bn)


@preset(
    "googlenet",
    "GoogLeNet",
    "Szegedy et al., 2015, 'Going deeper with convolutions' (Inception v1), as torchvision "
    "builds it: batch-normalised convolutions, nine inception modules whose four branches "
    "(1×1, 1×1→3×3, 1×1→3×3, pool→1×1) are concatenated, max-pooling with ceil_mode, global "
    "average pooling and one linear layer. No auxiliary classifiers. torchvision uses a 3×3 "
    "kernel where the paper's third branch has 5×5.",
    IMAGENET,
    ("googlenet", "inception", "imagenet"),
    torchvision="googlenet",
)
def googlenet() -> Graph:
    c = Chain()
    c.input(3, 224, 224)
    eps = {"bn_eps": 1e-3}
    c.add("conv_bn_relu", path="conv1", out_channels=64, kernel_size=7, stride=2, padding=3, **eps)
    c.add("maxpool2d", path="maxpool1", kernel_size=3, stride=2, ceil_mode=True)
    c.add("conv_bn_relu", path="conv2", out_channels=64, kernel_size=1, padding=0, **eps)
    c.add("conv_bn_relu", path="conv3", out_channels=192, kernel_size=3, padding=1, **eps)
    c.add("maxpool2d", path="maxpool2", kernel_size=3, stride=2, ceil_mode=True)
    for name in ("3a", "3b"):
        inception(c, name, 3)
    c.add("maxpool2d", path="maxpool3", kernel_size=3, stride=2, ceil_mode=True)
    for name in ("4a", "4b", "4c", "4d", "4e"):
        inception(c, name, 3)
    c.add("maxpool2d", path="maxpool4", kernel_size=2, ceil_mode=True)
    for name in ("5a", "5b"):
        inception(c, name, 3)
    c.add("global_avgpool", path="avgpool")
    c.add("dropout", path="dropout", p=0.2)
    c.add("linear", path="fc", out_features=1000)
    c.add("output", classes=1000)
    return c.graph


def _resnet(depth: int, groups: int = 1, base_width: int = 64) -> Graph:
    kind = "bottleneck" if depth >= 50 else "basic"
    c = Chain()
    c.input(3, 224, 224)
    c.add(
        "conv2d",
        path="conv1",
        out_channels=64,
        kernel_h=7,
        kernel_w=7,
        stride=2,
        padding=3,
        bias=False,
    )
    c.add("batchnorm2d", path="bn1")
    c.add("relu", path="relu")
    c.add("maxpool2d", path="maxpool", kernel_size=3, stride=2, padding=1)
    resnet_stages(
        c, RESNET_LAYERS[depth], kind=kind, version="v1.5", groups=groups, base_width=base_width
    )
    c.add("global_avgpool", path="avgpool")
    c.add("linear", path="fc", out_features=1000)
    c.add("output", classes=1000)
    return c.graph


_RESNET_PAPER = "He et al., 2016, 'Deep residual learning for image recognition'"


def _register_resnet(depth: int) -> None:
    kind = "bottleneck (1×1 → 3×3 → 1×1)" if depth >= 50 else "basic (two 3×3)"
    preset(
        f"resnet{depth}",
        f"ResNet-{depth}",
        f"{_RESNET_PAPER}: a 7×7 stem and max-pool, four stages of {sum(RESNET_LAYERS[depth])} "
        f"{kind} residual blocks, global average pooling and one linear layer. Version 1.5 as "
        "in torchvision: downsampling blocks put the stride on the 3×3 convolution.",
        IMAGENET,
        ("resnet", "imagenet"),
        torchvision=f"resnet{depth}",
    )(lambda: _resnet(depth))


for _d in RESNET_LAYERS:
    _register_resnet(_d)


@preset(
    "resnext50_32x4d",
    "ResNeXt-50 (32×4d)",
    "Xie et al., 2017, 'Aggregated residual transformations for deep neural networks': "
    "ResNet-50 whose 3×3 convolutions are split into 32 groups of width 4 (cardinality 32), "
    "the split-transform-merge idea of Inception in a single grouped convolution.",
    IMAGENET,
    ("resnext", "resnet", "imagenet"),
    torchvision="resnext50_32x4d",
)
def resnext50_32x4d() -> Graph:
    return _resnet(50, groups=32, base_width=4)


@preset(
    "wide_resnet50_2",
    "Wide ResNet-50-2",
    "Zagoruyko and Komodakis, 2016, 'Wide residual networks', torchvision's ImageNet form: "
    "ResNet-50 with the bottleneck's inner 3×3 convolutions twice as wide.",
    IMAGENET,
    ("wide-resnet", "resnet", "imagenet"),
    torchvision="wide_resnet50_2",
)
def wide_resnet50_2() -> Graph:
    return _resnet(50, base_width=128)


def _squeezenet(version: str) -> Graph:
    c = Chain()
    c.input(3, 224, 224)
    c.sequential("features")
    if version == "1_0":
        conv_relu(c, 96, 7, 2)
    else:
        conv_relu(c, 64, 3, 2)
    c.add("maxpool2d", kernel_size=3, stride=2, ceil_mode=True)
    squeezenet_body(c, SQUEEZENET_FIRES[version], 1000)
    return c.graph


for _v, _extra in (
    ("1_0", "the original architecture"),
    (
        "1_1",
        "version 1.1: a 3×3 stem with 64 filters and earlier pooling, 2.4× "
        "less computation for the same accuracy",
    ),
):
    preset(
        f"squeezenet{_v}",
        f"SqueezeNet {_v.replace('_', '.')}",
        "Iandola et al., 2016, 'SqueezeNet: AlexNet-level accuracy with 50x fewer parameters': "
        "fire modules (1×1 squeeze, then parallel 1×1 and 3×3 expands), no fully connected "
        f"layer (a 1×1 conv to 1000 class maps and global average pooling); {_extra}.",
        IMAGENET,
        ("squeezenet", "fire", "imagenet"),
        torchvision=f"squeezenet{_v}",
    )((lambda v: lambda: _squeezenet(v))(_v))


#: growth rate, layers per dense block, channels of the stem (torchvision's configurations)
DENSENETS = {
    121: (32, (6, 12, 24, 16), 64),
    161: (48, (6, 12, 36, 24), 96),
    169: (32, (6, 12, 32, 32), 64),
    201: (32, (6, 12, 48, 32), 64),
}


def _densenet(depth: int) -> Graph:
    growth, blocks, stem = DENSENETS[depth]
    c = Chain()
    c.input(3, 224, 224)
    c.add("conv2d", path="features.conv0", out_channels=stem, kernel_h=7, kernel_w=7,
          stride=2, padding=3, bias=False)  # fmt: skip
    c.add("batchnorm2d", path="features.norm0")
    c.add("relu", path="features.relu0")
    c.add("maxpool2d", path="features.pool0", kernel_size=3, stride=2, padding=1)
    channels = stem
    for b, layers in enumerate(blocks, start=1):
        for i in range(1, layers + 1):
            node = c.add(
                "dense_layer", path=f"features.denseblock{b}.denselayer{i}", growth_rate=growth
            )
            c.graph.set_label(node, f"denseblock{b}.{i}")
        channels += layers * growth
        if b < len(blocks):  # a transition halves the channels and the size
            channels //= 2
            t = f"features.transition{b}"
            c.add("batchnorm2d", path=f"{t}.norm")
            c.add("relu", path=f"{t}.relu")
            c.add("conv2d", path=f"{t}.conv", out_channels=channels, kernel_h=1, kernel_w=1,
                  bias=False)  # fmt: skip
            c.add("avgpool2d", path=f"{t}.pool", kernel_size=2)
    c.add("batchnorm2d", path="features.norm5")
    c.add("relu")
    c.add("global_avgpool")
    c.add("linear", path="classifier", out_features=1000)
    c.add("output", classes=1000)
    return c.graph


def _register_densenet(depth: int) -> None:
    growth, blocks, _ = DENSENETS[depth]
    preset(
        f"densenet{depth}",
        f"DenseNet-{depth}",
        "Huang et al., 2017, 'Densely connected convolutional networks': four dense blocks "
        f"of {', '.join(map(str, blocks))} layers, each adding {growth} channels "
        "(BN-ReLU-1×1-BN-ReLU-3×3) concatenated to all the features before it, with "
        "transitions (BN-ReLU-1×1 halving the channels, 2×2 average pooling) between them: "
        "feature reuse instead of ever wider layers, so few parameters for the depth.",
        IMAGENET,
        ("densenet", "imagenet"),
        torchvision=f"densenet{depth}",
    )(lambda: _densenet(depth))


for _d in DENSENETS:
    _register_densenet(_d)


#: expansion t, channels c, blocks n, first stride s (Sandler et al., Table 2)
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


@preset(
    "mobilenet_v2",
    "MobileNetV2",
    "Sandler et al., 2018, 'MobileNetV2: inverted residuals and linear bottlenecks': a 3×3 "
    "stem, 17 inverted residual blocks (a 1×1 conv widens the input six times, a 3×3 "
    "depthwise conv filters each channel alone, a linear 1×1 conv narrows it again, with the "
    "input added back where the shape is kept), a 1×1 conv to 1,280 channels, global average "
    "pooling and one linear layer. ReLU6 throughout: made for phones, 0.3 GMACs.",
    IMAGENET,
    ("mobilenet", "depthwise", "imagenet"),
    torchvision="mobilenet_v2",
)
def mobilenet_v2() -> Graph:
    c = Chain()
    c.input(3, 224, 224)
    c.add("conv2d", path="features.0.0", out_channels=32, kernel_h=3, kernel_w=3, stride=2,
          padding=1, bias=False)  # fmt: skip
    c.add("batchnorm2d", path="features.0.1")
    c.add("relu6", path="features.0.2")
    index = 1
    for t, channels, n, s in MOBILENET_V2:
        for i in range(n):
            c.add(
                "inverted_residual",
                path=f"features.{index}",
                out_channels=channels,
                stride=s if i == 0 else 1,
                expand_ratio=t,
            )
            index += 1
    c.add("conv2d", path=f"features.{index}.0", out_channels=1280, kernel_h=1, kernel_w=1,
          bias=False)  # fmt: skip
    c.add("batchnorm2d", path=f"features.{index}.1")
    c.add("relu6", path=f"features.{index}.2")
    c.add("global_avgpool")
    c.sequential("classifier")
    c.add("dropout", p=0.2)
    c.add("linear", out_features=1000)
    c.sequential(None)
    c.add("output", classes=1000)
    return c.graph
