"""Pooling, flattening and fully connected blocks."""

from __future__ import annotations

import math
from typing import ClassVar

from blocks.arith import spatial_input, window
from blocks.base import (
    BlockType,
    Inference,
    Params,
    Shape,
    ShapeError,
    call_source,
    nn,
    register,
    shape_text,
)
from blocks.params import Param


class PoolBlock(BlockType):
    category = "Pooling"
    torch_name: ClassVar[str]
    params = (
        Param("kernel_size", "int", 2, "Window size F.", 1, 1024),
        Param(
            "stride",
            "int",
            0,
            "Step S (0: same as the kernel, PyTorch's default).",
            0,
            1024,
        ),
        Param("padding", "int", 0, "Padding P on each side (at most F/2).", 0, 512),
        Param(
            "ceil_mode",
            "bool",
            False,
            "Round the formula up instead of down (keeps border pixels; NiN uses it).",
        ),
    )

    @staticmethod
    def stride(params: Params) -> int:
        return params["stride"] or params["kernel_size"]

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        h, w = spatial_input(self.title, inputs[0], 2)
        k, s = params["kernel_size"], self.stride(params)
        formulas = tuple(
            window(axis, size, k, s, params["padding"], ceil=params["ceil_mode"], pool=True)
            for axis, size in (("H", h), ("W", w))
        )
        return Inference(
            (inputs[0][0], formulas[0].out, formulas[1].out),
            formulas=formulas,
            rf_kernel=k,
            rf_stride=s,
        )

    def _kwargs(self, params: Params) -> dict:
        kwargs: dict = {}
        if params["stride"] and params["stride"] != params["kernel_size"]:
            kwargs["stride"] = params["stride"]
        if params["padding"]:
            kwargs["padding"] = params["padding"]
        if params["ceil_mode"]:
            kwargs["ceil_mode"] = True
        return kwargs

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(nn, self.torch_name)(params["kernel_size"], **self._kwargs(params))

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return call_source(f"nn.{self.torch_name}", [params["kernel_size"]], self._kwargs(params))

    def summary(self, params: Params) -> str:
        text = f"{params['kernel_size']}×{params['kernel_size']}, s{self.stride(params)}"
        if params["padding"]:
            text += f", p{params['padding']}"
        return text + (", ceil" if params["ceil_mode"] else "")


@register
class MaxPool2dBlock(PoolBlock):
    type_id = "maxpool2d"
    title = "MaxPool2d"
    torch_name = "MaxPool2d"
    help = "Keeps the largest value in each F×F window; f=2, s=2 halves H and W."


@register
class AvgPool2dBlock(PoolBlock):
    type_id = "avgpool2d"
    title = "AvgPool2d"
    torch_name = "AvgPool2d"
    help = "Averages each F×F window (zero padding counts in the average)."


@register
class AdaptiveAvgPool2dBlock(BlockType):
    type_id = "adaptive_avgpool2d"
    keeps_width = True
    title = "AdaptiveAvgPool2d"
    category = "Pooling"
    help = "Averages into a fixed output grid whatever the input size (e.g. 7×7 in VGG/AlexNet)."
    params = (
        Param("output_h", "int", 1, "Output height.", 1, 4096),
        Param("output_w", "int", 1, "Output width.", 1, 4096),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        h, _ = spatial_input(self.title, inputs[0], 2)
        out_h = params["output_h"]
        # the receptive field along H: window i spans [⌊i·h/o⌋, ⌈(i+1)·h/o⌉); when o divides
        # h every window is h/o rows, h/o apart; otherwise the largest and the smallest step
        kernel = max(-(-(i + 1) * h // out_h) - i * h // out_h for i in range(out_h))
        return Inference(
            (inputs[0][0], out_h, params["output_w"]),
            rf_kernel=kernel,
            rf_stride=max(1, h // out_h),
        )

    def _size(self, params: Params) -> int | tuple[int, int]:
        h, w = params["output_h"], params["output_w"]
        return h if h == w else (h, w)

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return nn.AdaptiveAvgPool2d(self._size(params))

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return call_source("nn.AdaptiveAvgPool2d", [self._size(params)], {})

    def summary(self, params: Params) -> str:
        return f"→ {params['output_h']}×{params['output_w']}"


@register
class GlobalAvgPoolBlock(BlockType):
    type_id = "global_avgpool"
    keeps_width = True
    title = "GlobalAvgPool"
    category = "Pooling"
    help = "Averages each channel over H×W into one number: C×H×W → C (NiN, GoogLeNet, ResNet)."

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        spatial_input(self.title, inputs[0], 2)
        return Inference((inputs[0][0],))

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())"


@register
class FlattenBlock(BlockType):
    type_id = "flatten"
    keeps_width = True
    title = "Flatten"
    category = "Dense"
    help = "Reshapes C×H×W into one vector of C·H·W features, for Linear layers."

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        return Inference((math.prod(inputs[0]),))

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return nn.Flatten()

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return "nn.Flatten()"


@register
class LinearBlock(BlockType):
    type_id = "linear"
    width_param = "out_features"
    fully_connected = True
    title = "Linear"
    category = "Dense"
    help = "Fully connected layer: every input feature connects to every output feature."
    params = (
        Param("out_features", "int", 10, "Number of output features.", 1, 1_000_000),
        Param("bias", "bool", True, "Learn a bias per output feature."),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        shape = inputs[0]
        if len(shape) != 1:
            raise ShapeError(
                f"Linear needs a flat vector, got {shape_text(shape)}: insert Flatten "
                f"(→ {math.prod(shape)} features) or GlobalAvgPool (→ {shape[0]}) before it"
            )
        n_in, n_out = shape[0], params["out_features"]
        n_params = n_in * n_out + (n_out if params["bias"] else 0)
        return Inference((n_out,), params=n_params, macs=n_in * n_out, layers=1)

    def _args(self, params: Params, inputs: list[Shape]) -> tuple[list, dict]:
        kwargs = {} if params["bias"] else {"bias": False}
        return [inputs[0][0], params["out_features"]], kwargs

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        args, kwargs = self._args(params, inputs)
        return nn.Linear(*args, **kwargs)

    def source(self, params: Params, inputs: list[Shape]) -> str:
        args, kwargs = self._args(params, inputs)
        return call_source("nn.Linear", args, kwargs)

    def summary(self, params: Params) -> str:
        return f"→ {params['out_features']}"
