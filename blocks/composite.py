"""Composite blocks: one node on the canvas, a small typed module inside (blocks.modules)."""

from __future__ import annotations

from blocks.arith import Tally, rf_chain, spatial_input
from blocks.base import (
    BlockType,
    Inference,
    LazyModule,
    Params,
    Shape,
    ShapeError,
    call_source,
    nn,
    register,
)
from blocks.params import Param

modules = LazyModule("blocks.modules")  # imported when a module is built


class CompositeBlock(BlockType):
    category = "Composite"

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        """(class name in blocks.modules, positional args, keyword args)."""
        raise NotImplementedError

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        name, args, kwargs = self.ctor(params, inputs)
        return getattr(modules, name)(*args, **kwargs)

    def source(self, params: Params, inputs: list[Shape]) -> str:
        name, args, kwargs = self.ctor(params, inputs)
        return call_source(name, args, kwargs)

    def classes_used(self, params: Params) -> tuple[str, ...]:
        name, _, kwargs = self.ctor(params, [(1, 1, 1)])
        return ("SqueezeExcite", name) if kwargs.get("se_channels") else (name,)


@register
class ConvUnitBlock(CompositeBlock):
    type_id = "conv_bn_relu"
    width_param = "out_channels"
    title = "Conv-BN-ReLU"
    help = "A 2-D convolution (no bias) followed by BatchNorm and ReLU: the standard CNN unit."
    module_classes = ("ConvUnit",)
    params = (
        Param("out_channels", "int", 64, "Number of filters.", 1, 65536),
        Param("kernel_size", "int", 3, "Kernel size F.", 1, 1024),
        Param("stride", "int", 1, "Stride S.", 1, 64),
        Param("padding", "int", 1, "Padding P.", 0, 1024),
        Param(
            "batch_norm",
            "bool",
            True,
            "Include BatchNorm (otherwise the conv has a bias).",
        ),
        Param(
            "bn_eps",
            "float",
            1e-5,
            "BatchNorm epsilon (GoogLeNet uses 0.001).",
            1e-12,
            1.0,
        ),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        t = Tally()
        out = params["out_channels"]
        bn = params["batch_norm"]
        hw = t.conv(
            inputs[0][0],
            out,
            params["kernel_size"],
            hw,
            stride=params["stride"],
            padding=params["padding"],
            bias=not bn,
        )
        if bn:
            t.bn(out)
        return Inference(
            (out, *hw),
            t.params,
            t.macs,
            tuple(t.formulas),
            params["kernel_size"],
            params["stride"],
            1,
        )

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        kwargs = {n: params[n] for n, d in (("stride", 1), ("padding", 0)) if params[n] != d}
        if not params["batch_norm"]:
            kwargs["batch_norm"] = False
        if params["bn_eps"] != 1e-5:
            kwargs["bn_eps"] = params["bn_eps"]
        return (
            "ConvUnit",
            [inputs[0][0], params["out_channels"], params["kernel_size"]],
            kwargs,
        )

    def summary(self, params: Params) -> str:
        k = params["kernel_size"]
        s = f", s{params['stride']}" if params["stride"] != 1 else ""
        return f"{k}×{k}, {params['out_channels']}{s}"


@register
class ResidualBlockType(CompositeBlock):
    type_id = "residual"
    title = "ResidualBlock"
    help = (
        "ResNet block: a branch of convolutions added to a shortcut. Basic = two 3×3 convs; "
        "bottleneck = 1×1 → 3×3 → 1×1 with 4× output channels. A 1×1 projection shortcut is "
        "added when the stride or channel count changes."
    )
    params = (
        Param(
            "kind",
            "choice",
            "basic",
            "basic (ResNet-18/34) or bottleneck (ResNet-50+).",
            choices=("basic", "bottleneck"),
        ),
        Param(
            "channels",
            "int",
            64,
            "Width of the block; output = 4× this for bottleneck.",
            1,
            65536,
        ),
        Param("stride", "int", 1, "2 halves H and W (downsampling block).", 1, 8),
        Param(
            "version",
            "choice",
            "v1.5",
            "v1: stride on the first 1×1; v1.5: stride on the 3×3 (torchvision); "
            "v2: pre-activation BN→ReLU→conv.",
            choices=("v1", "v1.5", "v2"),
        ),
        Param(
            "groups",
            "int",
            1,
            "Cardinality of the 3×3 conv (ResNeXt: 32). Bottleneck only.",
            1,
            1024,
        ),
        Param(
            "base_width",
            "int",
            64,
            "Width per group ×64 (ResNeXt 32×4d: 4; wide: 128).",
            1,
            4096,
        ),
        Param(
            "se_reduction",
            "int",
            0,
            "Squeeze-excitation reduction r (0: no SE; SENet: 16).",
            0,
            1024,
        ),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        cin, ch, s = inputs[0][0], params["channels"], params["stride"]
        bottleneck = params["kind"] == "bottleneck"
        pre = params["version"] == "v2"
        t = Tally()
        if not bottleneck:
            if params["groups"] != 1 or params["base_width"] != 64:
                raise ShapeError(
                    "groups and base_width apply to bottleneck blocks only: "
                    "set kind=bottleneck or groups=1, base_width=64"
                )
            width = cout = ch
            if pre:
                t.bn(cin)
            out = t.conv(cin, ch, 3, hw, stride=s, padding=1)
            t.bn(ch)
            t.conv(ch, ch, 3, out, padding=1)
            if not pre:
                t.bn(ch)
            rf = rf_chain([(3, s), (3, 1)])
            layers = 2
        else:
            width = int(ch * (params["base_width"] / 64.0)) * params["groups"]
            if width < 1:
                raise ShapeError(
                    f"bottleneck width int({ch}·{params['base_width']}/64)·groups "
                    "is 0: raise channels or base_width"
                )
            cout = 4 * ch
            s1, s3 = (s, 1) if params["version"] == "v1" else (1, s)
            if pre:
                t.bn(cin)
            mid = t.conv(cin, width, 1, hw, stride=s1)
            t.bn(width)
            out = t.conv(width, width, 3, mid, stride=s3, padding=1, groups=params["groups"])
            t.bn(width)
            t.conv(width, cout, 1, out)
            if not pre:
                t.bn(cout)
            rf = rf_chain([(1, s1), (3, s3), (1, 1)])
            layers = 3
        del width
        if s != 1 or cin != cout:
            t.conv(cin, cout, 1, hw, stride=s)
            if not pre:
                t.bn(cout)
        se = self._se_channels(params, cout)
        if se:
            t.params += cout * se + se + se * cout + cout
            t.macs += 2 * cout * se
        return Inference((cout, *out), t.params, t.macs, tuple(t.formulas), rf[0], rf[1], layers)

    @staticmethod
    def _se_channels(params: Params, cout: int) -> int:
        r = params["se_reduction"]
        return max(1, cout // r) if r else 0

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        bottleneck = params["kind"] == "bottleneck"
        pre = params["version"] == "v2"
        se = self._se_channels(params, params["channels"] * (4 if bottleneck else 1))
        name = (
            ("SE" if se else "")
            + ("PreAct" if pre else "")
            + ("BottleneckBlock" if bottleneck else "ResidualBlock")
        )
        kwargs: dict = {}
        if params["stride"] != 1:
            kwargs["stride"] = params["stride"]
        if bottleneck:
            if params["groups"] != 1:
                kwargs["groups"] = params["groups"]
            if params["base_width"] != 64:
                kwargs["base_width"] = params["base_width"]
            if params["version"] == "v1":
                kwargs["stride_on_3x3"] = False
        if se:
            kwargs["se_channels"] = se
        return name, [inputs[0][0], params["channels"]], kwargs

    def summary(self, params: Params) -> str:
        bottleneck = params["kind"] == "bottleneck"
        text = f"{'bottleneck' if bottleneck else 'basic'} {params['channels']}"
        if params["stride"] != 1:
            text += f", s{params['stride']}"
        if params["groups"] != 1:
            text += f", g{params['groups']}"
        if params["version"] != "v1.5":
            text += f", {params['version']}"
        return text + (", SE" if params["se_reduction"] else "")


@register
class SqueezeExciteBlock(CompositeBlock):
    type_id = "squeeze_excite"
    title = "SqueezeExcite"
    help = "SENet gate: global average → 1×1 (C/r) → ReLU → 1×1 (C) → sigmoid, times the input."
    module_classes = ("SqueezeExcite",)
    params = (Param("reduction", "int", 16, "Reduction ratio r.", 1, 1024),)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        spatial_input(self.title, inputs[0], 2)
        c = inputs[0][0]
        se = max(1, c // params["reduction"])
        return Inference(inputs[0], params=2 * c * se + c + se, macs=2 * c * se)

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        c = inputs[0][0]
        return "SqueezeExcite", [c, max(1, c // params["reduction"])], {}

    def summary(self, params: Params) -> str:
        return f"r={params['reduction']}"


@register
class InceptionBlock(CompositeBlock):
    type_id = "inception"
    title = "Inception"
    help = (
        "GoogLeNet module: four parallel branches (1×1; 1×1→3×3; 1×1→k×k; 3×3 max-pool→1×1) "
        "concatenated along channels. Output channels = #1×1 + #3×3 + #5×5 + pool proj."
    )
    module_classes = ("ConvUnit", "Inception")
    params = (
        Param("ch1x1", "int", 64, "Filters of the 1×1 branch.", 1, 65536),
        Param("ch3x3red", "int", 96, "1×1 reduction before the 3×3.", 1, 65536),
        Param("ch3x3", "int", 128, "Filters of the 3×3 branch.", 1, 65536),
        Param("ch5x5red", "int", 16, "1×1 reduction before the 5×5.", 1, 65536),
        Param("ch5x5", "int", 32, "Filters of the 5×5 branch.", 1, 65536),
        Param("pool_proj", "int", 32, "1×1 filters after the max-pool branch.", 1, 65536),
        Param(
            "kernel",
            "int",
            5,
            "Kernel of the third branch (paper 5; torchvision 3). Odd.",
            1,
            11,
        ),
        Param(
            "batch_norm",
            "bool",
            True,
            "BatchNorm after each conv (torchvision's GoogLeNet).",
        ),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        k = params["kernel"]
        if k % 2 == 0:
            raise ShapeError(
                f"kernel {k} is even, so padding {k // 2} would change H×W and the "
                f"branches could not be concatenated: use {k - 1} or {k + 1}"
            )
        cin, bn = inputs[0][0], params["batch_norm"]
        t = Tally()

        def unit(ci: int, co: int, kernel: int) -> None:
            t.conv(ci, co, kernel, hw, padding=kernel // 2, bias=not bn)
            if bn:
                t.bn(co)

        unit(cin, params["ch1x1"], 1)
        unit(cin, params["ch3x3red"], 1)
        unit(params["ch3x3red"], params["ch3x3"], 3)
        unit(cin, params["ch5x5red"], 1)
        unit(params["ch5x5red"], params["ch5x5"], k)
        unit(cin, params["pool_proj"], 1)
        cout = params["ch1x1"] + params["ch3x3"] + params["ch5x5"] + params["pool_proj"]
        return Inference((cout, *hw), t.params, t.macs, (), max(k, 3), 1, 2)

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        names = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
        kwargs: dict = {}
        if params["kernel"] != 5:
            kwargs["kernel"] = params["kernel"]
        if not params["batch_norm"]:
            kwargs["batch_norm"] = False
        return "Inception", [inputs[0][0], *(params[n] for n in names)], kwargs

    def classes_used(self, params: Params) -> tuple[str, ...]:
        return self.module_classes

    def summary(self, params: Params) -> str:
        total = sum(params[n] for n in ("ch1x1", "ch3x3", "ch5x5", "pool_proj"))
        return f"→ {total} ch"


@register
class FireBlock(CompositeBlock):
    type_id = "fire"
    title = "Fire"
    help = "SqueezeNet module: 1×1 squeeze, then parallel 1×1 and 3×3 expands, concatenated."
    module_classes = ("Fire",)
    params = (
        Param("squeeze", "int", 16, "Filters of the 1×1 squeeze layer.", 1, 65536),
        Param("expand1x1", "int", 64, "Filters of the 1×1 expand branch.", 1, 65536),
        Param("expand3x3", "int", 64, "Filters of the 3×3 expand branch.", 1, 65536),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        sq, e1, e3 = params["squeeze"], params["expand1x1"], params["expand3x3"]
        t = Tally()
        t.conv(inputs[0][0], sq, 1, hw, bias=True)
        t.conv(sq, e1, 1, hw, bias=True)
        t.conv(sq, e3, 3, hw, padding=1, bias=True)
        return Inference((e1 + e3, *hw), t.params, t.macs, (), 3, 1, 2)

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        names = ("squeeze", "expand1x1", "expand3x3")
        return "Fire", [inputs[0][0], *(params[n] for n in names)], {}

    def summary(self, params: Params) -> str:
        return f"{params['squeeze']} → {params['expand1x1']}+{params['expand3x3']}"


@register
class NiNBlockType(CompositeBlock):
    type_id = "nin_block"
    width_param = "out_channels"
    title = "NiNBlock"
    help = (
        "Network-in-network block: a k×k conv then two 1×1 convs (a small MLP at every "
        "pixel), each followed by ReLU."
    )
    module_classes = ("NiNBlock",)
    params = (
        Param("channels", "int", 96, "Filters of the k×k conv.", 1, 65536),
        Param("kernel_size", "int", 3, "Kernel of the first conv.", 1, 1024),
        Param("stride", "int", 1, "Stride of the first conv.", 1, 64),
        Param("padding", "int", 1, "Padding of the first conv.", 0, 1024),
        Param(
            "mid_channels",
            "int",
            0,
            "Filters of the first 1×1 conv (0: same as channels).",
            0,
            65536,
        ),
        Param(
            "out_channels",
            "int",
            0,
            "Filters of the last 1×1 conv (0: same as channels).",
            0,
            65536,
        ),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        c, k = params["channels"], params["kernel_size"]
        mid = params["mid_channels"] or c
        out = params["out_channels"] or c
        t = Tally()
        hw = t.conv(
            inputs[0][0],
            c,
            k,
            hw,
            stride=params["stride"],
            padding=params["padding"],
            bias=True,
        )
        t.conv(c, mid, 1, hw, bias=True)
        t.conv(mid, out, 1, hw, bias=True)
        return Inference((out, *hw), t.params, t.macs, tuple(t.formulas), k, params["stride"], 3)

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        defaults = {"stride": 1, "padding": 0, "mid_channels": 0, "out_channels": 0}
        kwargs = {n: params[n] for n, d in defaults.items() if params[n] != d}
        return (
            "NiNBlock",
            [inputs[0][0], params["channels"], params["kernel_size"]],
            kwargs,
        )

    def summary(self, params: Params) -> str:
        k = params["kernel_size"]
        widths = [params["channels"], params["mid_channels"], params["out_channels"]]
        text = "-".join(str(w or widths[0]) for w in widths) if any(widths[1:]) else str(widths[0])
        return f"{k}×{k}, {text}, s{params['stride']}"


@register
class DenseLayerBlock(CompositeBlock):
    type_id = "dense_layer"
    title = "DenseLayer"
    help = (
        "DenseNet layer: BN → ReLU → 1×1 conv (bn_size × growth) → BN → ReLU → 3×3 conv "
        "(growth), concatenated to its input: C channels in, C + growth out. A dense block is "
        "a chain of them; every layer sees all the features before it."
    )
    module_classes = ("DenseLayer",)
    params = (
        Param("growth_rate", "int", 32, "New channels per layer k (DenseNet-121: 32).", 1, 4096),
        Param("bn_size", "int", 4, "Width of the 1×1 bottleneck, × growth_rate.", 1, 64),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        cin, k = inputs[0][0], params["growth_rate"]
        width = params["bn_size"] * k
        t = Tally()
        t.bn(cin)
        t.conv(cin, width, 1, hw)
        t.bn(width)
        t.conv(width, k, 3, hw, padding=1)
        return Inference((cin + k, *hw), t.params, t.macs, (), 3, 1, 2)

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        kwargs = {"bn_size": params["bn_size"]} if params["bn_size"] != 4 else {}
        return "DenseLayer", [inputs[0][0], params["growth_rate"]], kwargs

    def summary(self, params: Params) -> str:
        return f"+{params['growth_rate']} ch"


@register
class InvertedResidualBlock(CompositeBlock):
    type_id = "inverted_residual"
    width_param = "out_channels"
    title = "InvertedResidual"
    help = (
        "MobileNetV2 block: a 1×1 conv widens the input expand_ratio times (BN, ReLU6), a 3×3 "
        "depthwise conv (one filter per channel, groups = channels) filters it (BN, ReLU6), a "
        "linear 1×1 conv narrows it to out_channels (BN, no activation); the input is added "
        "back when stride 1 keeps its shape. Depthwise-separable convolutions cost a fraction "
        "of a full 3×3."
    )
    module_classes = ("InvertedResidual",)
    params = (
        Param("out_channels", "int", 16, "Channels out (narrow: the bottleneck).", 1, 65536),
        Param("stride", "int", 1, "Stride of the depthwise conv (2 halves H and W).", 1, 2),
        Param("expand_ratio", "int", 6, "How many times wider the inside is (t).", 1, 64),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        hw = spatial_input(self.title, inputs[0], 2)
        cin, cout, s = inputs[0][0], params["out_channels"], params["stride"]
        t = params["expand_ratio"]
        hidden = cin * t
        tally = Tally()
        if t != 1:
            tally.conv(cin, hidden, 1, hw)
            tally.bn(hidden)
        out = tally.conv(hidden, hidden, 3, hw, stride=s, padding=1, groups=hidden)
        tally.bn(hidden)
        tally.conv(hidden, cout, 1, out)
        tally.bn(cout)
        rf = rf_chain([(1, 1), (3, s), (1, 1)])
        layers = 3 if t != 1 else 2
        return Inference(
            (cout, *out), tally.params, tally.macs, tuple(tally.formulas), rf[0], rf[1], layers
        )

    def ctor(self, params: Params, inputs: list[Shape]) -> tuple[str, list, dict]:
        kwargs = {n: params[n] for n, d in (("stride", 1), ("expand_ratio", 6)) if params[n] != d}
        return "InvertedResidual", [inputs[0][0], params["out_channels"]], kwargs

    def summary(self, params: Params) -> str:
        s = f", s{params['stride']}" if params["stride"] != 1 else ""
        return f"t={params['expand_ratio']}, {params['out_channels']}{s}"
