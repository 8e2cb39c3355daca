"""ImageNet ResNets drawn layer by layer from primitive blocks (conv, BN, ReLU, Add).

Not registered as presets (a ResNet-152 would be 500+ loose nodes on the canvas); used by
benchmarks and to cross-check the composite ResidualBlock against its primitives.
"""

from __future__ import annotations

from app.core.graph import Graph
from presets.parts import RESNET_LAYERS


def drawn_resnet(depth: int = 152, classes: int = 1000, size: int = 224) -> Graph:
    """torchvision's ResNet-``depth`` (v1.5) as a graph of primitive nodes."""
    g = Graph()
    bottleneck = depth >= 50
    y = 0.0

    def add(type_id: str, src: str | list[str], **params: object) -> str:
        nonlocal y
        y += 60.0
        node = g.add_node(type_id, params, position=(0.0, y))
        for s in [src] if isinstance(src, str) else src:
            g.connect(s, node.id)
        return node.id

    def conv_bn(src: str, cout: int, k: int, s: int = 1, relu: bool = True) -> str:
        c = add(
            "conv2d",
            src,
            out_channels=cout,
            kernel_h=k,
            kernel_w=k,
            stride=s,
            padding=k // 2,
            bias=False,
        )
        b = add("batchnorm2d", c)
        return add("relu", b) if relu else b

    x = g.add_node("input", {"channels": 3, "height": size, "width": size}).id
    x = conv_bn(x, 64, 7, 2)
    x = add("maxpool2d", x, kernel_size=3, stride=2, padding=1)
    cin = 64
    for stage, count in enumerate(RESNET_LAYERS[depth]):
        planes = 64 * 2**stage
        cout = planes * (4 if bottleneck else 1)
        for i in range(count):
            s = 2 if stage and i == 0 else 1
            if bottleneck:
                h = conv_bn(conv_bn(x, planes, 1), planes, 3, s)
                h = conv_bn(h, cout, 1, relu=False)
            else:
                h = conv_bn(conv_bn(x, planes, 3, s), planes, 3, relu=False)
            short = conv_bn(x, cout, 1, s, relu=False) if s != 1 or cin != cout else x
            x = add("relu", add("add", [h, short]))
            cin = cout
    x = add("global_avgpool", x)
    x = add("linear", x, out_features=classes)
    add("output", x, classes=classes)
    return g
