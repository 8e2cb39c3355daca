"""The inside of composite blocks, as primitive blocks.

``expand(type_id, params, input_shape)`` lists the primitive nodes a composite block is made of,
each with the names of the parts feeding it (``"x"`` is the block's input); the last part is the
block's output. Part names are the module's submodule paths with ``_`` for ``.`` (``conv1``,
``downsample_0``, ``se_fc1``, ``branch2_1_conv``), so the block's weights map onto the parts by
name. Plain data only: the graph-level edit lives in ``app.core.edits``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from blocks.base import Params, Shape

INPUT = "x"


class Part(NamedTuple):
    name: str
    type_id: str
    params: dict[str, Any]
    inputs: tuple[str, ...]


class _Parts:
    """Collects parts; each helper returns the name of the part it added."""

    def __init__(self) -> None:
        self.parts: list[Part] = []

    def add(self, name: str, type_id: str, src: str | tuple[str, ...], **params: Any) -> str:
        self.parts.append(Part(name, type_id, params, (src,) if isinstance(src, str) else src))
        return name

    def conv(self, name: str, src: str, cout: int, k: int, **params: Any) -> str:
        return self.add(name, "conv2d", src, out_channels=cout, kernel_h=k, kernel_w=k, **params)

    def se(self, prefix: str, src: str, channels: int, squeeze: int) -> str:
        pool = self.add(f"{prefix}avgpool", "adaptive_avgpool2d", src)
        fc1 = self.conv(f"{prefix}fc1", pool, squeeze, 1)
        fc2 = self.conv(f"{prefix}fc2", self.add(f"{prefix}relu", "relu", fc1), channels, 1)
        gate = self.add(f"{prefix}gate", "sigmoid", fc2)
        return self.add(f"{prefix}scale", "multiply", (src, gate))

    def unit(self, prefix: str, src: str, cout: int, k: int, bn: bool, eps: float, **kw) -> str:
        """Conv → (BN) → ReLU, as ConvUnit."""
        out = self.conv(f"{prefix}conv", src, cout, k, bias=not bn, **kw)
        if bn:
            out = self.add(f"{prefix}bn", "batchnorm2d", out, eps=eps)
        return self.add(f"{prefix}relu", "relu", out)


def _conv_unit(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    b.unit(
        "",
        INPUT,
        p["out_channels"],
        p["kernel_size"],
        p["batch_norm"],
        p["bn_eps"],
        stride=p["stride"],
        padding=p["padding"],
    )
    return b.parts


def _residual(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    cin, ch, s = shape[0], p["channels"], p["stride"]
    bottleneck, pre = p["kind"] == "bottleneck", p["version"] == "v2"
    cout = ch * (4 if bottleneck else 1)
    if bottleneck:
        width = int(ch * (p["base_width"] / 64.0)) * p["groups"]
        s1, s3 = (s, 1) if p["version"] == "v1" else (1, s)
        convs = [(width, 1, s1, 0, 1), (width, 3, s3, 1, p["groups"]), (cout, 1, 1, 0, 1)]
    else:
        convs = [(ch, 3, s, 1, 1), (ch, 3, 1, 1, 1)]
    x = INPUT
    pre_act = ""
    for i, (co, k, st, pad, groups) in enumerate(convs, start=1):
        if pre:
            x = b.add(f"bn{i}", "batchnorm2d", x)
            x = b.add(f"relu{i}", "relu", x)
            pre_act = pre_act or x
        x = b.conv(f"conv{i}", x, co, k, stride=st, padding=pad, groups=groups, bias=False)
        if not pre:
            x = b.add(f"bn{i}", "batchnorm2d", x)
            if i < len(convs):
                x = b.add(f"relu{i}", "relu", x)
    r = p["se_reduction"]
    if r:
        x = b.se("se_", x, cout, max(1, cout // r))
    short = INPUT
    if s != 1 or cin != cout:
        short = b.conv("downsample_0", pre_act or INPUT, cout, 1, stride=s, bias=False)
        if not pre:
            short = b.add("downsample_1", "batchnorm2d", short)
    out = b.add("add", "add", (x, short))
    if not pre:
        b.add("relu", "relu", out)
    return b.parts


def _squeeze_excite(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    b.se("", INPUT, shape[0], max(1, shape[0] // p["reduction"]))
    return b.parts


def _inception(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    bn, eps, k = p["batch_norm"], 0.001, p["kernel"]
    one = b.unit("branch1_", INPUT, p["ch1x1"], 1, bn, eps)
    red = b.unit("branch2_0_", INPUT, p["ch3x3red"], 1, bn, eps)
    three = b.unit("branch2_1_", red, p["ch3x3"], 3, bn, eps, padding=1)
    red = b.unit("branch3_0_", INPUT, p["ch5x5red"], 1, bn, eps)
    five = b.unit("branch3_1_", red, p["ch5x5"], k, bn, eps, padding=k // 2)
    pool = b.add("branch4_0", "maxpool2d", INPUT, kernel_size=3, stride=1, padding=1)
    proj = b.unit("branch4_1_", pool, p["pool_proj"], 1, bn, eps)
    b.add("concat", "concat", (one, three, five, proj), inputs=4)
    return b.parts


def _fire(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    sq = b.add("squeeze_relu", "relu", b.conv("squeeze", INPUT, p["squeeze"], 1))
    e1 = b.add("expand1x1_relu", "relu", b.conv("expand1x1", sq, p["expand1x1"], 1))
    e3 = b.conv("expand3x3", sq, p["expand3x3"], 3, padding=1)
    b.add("concat", "concat", (e1, b.add("expand3x3_relu", "relu", e3)))
    return b.parts


def _nin_block(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    c = p["channels"]
    widths = (c, p["mid_channels"] or c, p["out_channels"] or c)
    x = b.conv("conv1", INPUT, c, p["kernel_size"], stride=p["stride"], padding=p["padding"])
    x = b.add("relu1", "relu", x)
    for i, co in enumerate(widths[1:], start=2):
        x = b.add(f"relu{i}", "relu", b.conv(f"conv{i}", x, co, 1))
    return b.parts


def _dense_layer(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    k = p["growth_rate"]
    x = b.add("relu1", "relu", b.add("norm1", "batchnorm2d", INPUT))
    x = b.add(
        "relu2",
        "relu",
        b.add("norm2", "batchnorm2d", b.conv("conv1", x, p["bn_size"] * k, 1, bias=False)),
    )
    new = b.conv("conv2", x, k, 3, padding=1, bias=False)
    b.add("concat", "concat", (INPUT, new))
    return b.parts


def _inverted_residual(p: Params, shape: Shape) -> list[Part]:
    b = _Parts()
    cin, t, s = shape[0], p["expand_ratio"], p["stride"]
    hidden = cin * t
    x, i = INPUT, 0
    if t != 1:
        x = b.add(
            "conv_0_2",
            "relu6",
            b.add("conv_0_1", "batchnorm2d", b.conv("conv_0_0", x, hidden, 1, bias=False)),
        )
        i = 1
    dw = b.conv(f"conv_{i}_0", x, hidden, 3, stride=s, padding=1, groups=hidden, bias=False)
    x = b.add(f"conv_{i}_2", "relu6", b.add(f"conv_{i}_1", "batchnorm2d", dw))
    x = b.conv(f"conv_{i + 1}", x, p["out_channels"], 1, bias=False)
    x = b.add(f"conv_{i + 2}", "batchnorm2d", x)
    if s == 1 and cin == p["out_channels"]:
        b.add("add", "add", (INPUT, x))
    return b.parts


EXPANSIONS: dict[str, Callable[[Params, Shape], list[Part]]] = {
    "conv_bn_relu": _conv_unit,
    "residual": _residual,
    "squeeze_excite": _squeeze_excite,
    "inception": _inception,
    "fire": _fire,
    "nin_block": _nin_block,
    "dense_layer": _dense_layer,
    "inverted_residual": _inverted_residual,
}


def can_expand(type_id: str) -> bool:
    return type_id in EXPANSIONS


def expand(type_id: str, params: Params, input_shape: Shape) -> list[Part]:
    """The primitive parts of a composite block (KeyError for a block that has no inside)."""
    return EXPANSIONS[type_id](params, input_shape)
