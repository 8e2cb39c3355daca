"""Architecture pieces shared by presets: stages and modules as the papers define them."""

from __future__ import annotations

from presets.builder import Chain


def conv_relu(c: Chain, cout: int, k: int, s: int = 1, p: int = 0, bn: bool = False) -> None:
    c.add("conv2d", out_channels=cout, kernel_h=k, kernel_w=k, stride=s, padding=p)
    if bn:
        c.add("batchnorm2d")
    c.add("relu")


VGG_CFGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ),
}


def vgg_features(c: Chain, cfg: tuple, bn: bool) -> None:
    for v in cfg:
        if v == "M":
            c.add("maxpool2d", kernel_size=2)  # stride = kernel, as nn.MaxPool2d(2)
        else:
            conv_relu(c, v, 3, 1, 1, bn)


GOOGLENET_INCEPTIONS = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
_INCEPTION_KEYS = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")


def inception(c: Chain, name: str, kernel: int) -> str:
    widths = dict(zip(_INCEPTION_KEYS, GOOGLENET_INCEPTIONS[name], strict=True))
    node = c.add("inception", path=f"inception{name}", kernel=kernel, **widths)
    c.graph.set_label(node, f"inception{name}")
    return node


RESNET_LAYERS = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}


def resnet_stages(
    c: Chain, layers: tuple[int, ...], *, first_stride: int = 1, **block: object
) -> None:
    """Four stages of residual blocks (64, 128, 256, 512 base channels), named as torchvision
    names them (``layer1.0``…); the first block of stages 2-4 downsamples."""
    for stage, count in enumerate(layers):
        for i in range(count):
            stride = (2 if stage else first_stride) if i == 0 else 1
            name = f"layer{stage + 1}.{i}"
            node = c.add("residual", path=name, channels=64 * 2**stage, stride=stride, **block)
            c.graph.set_label(node, name)


SQUEEZENET_FIRES = {
    "1_0": (
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        "M",
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        "M",
        (64, 256, 256),
    ),
    "1_1": (
        (16, 64, 64),
        (16, 64, 64),
        "M",
        (32, 128, 128),
        (32, 128, 128),
        "M",
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ),
}


def squeezenet_body(c: Chain, fires: tuple, classes: int) -> None:
    """The fire modules (continuing the ``features`` sequence the stem began) and the
    ``classifier``: a 1×1 conv to one map per class, averaged."""
    for f in fires:
        if f == "M":
            c.add("maxpool2d", kernel_size=3, stride=2, ceil_mode=True)
        else:
            c.add("fire", squeeze=f[0], expand1x1=f[1], expand3x3=f[2])
    c.sequential("classifier")
    c.add("dropout", p=0.5)
    c.add("conv2d", out_channels=classes, kernel_h=1, kernel_w=1)
    c.add("relu")
    c.add("global_avgpool")
    c.sequential(None)
    c.add("output", classes=classes)
