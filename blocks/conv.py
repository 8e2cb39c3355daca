"""Convolution blocks in 1, 2 and 3 spatial dimensions."""

from __future__ import annotations

import math
from typing import ClassVar

from blocks.arith import AXES, spatial_input, window
from blocks.base import (
    BlockType,
    Inference,
    Params,
    Shape,
    ShapeError,
    call_source,
    nn,
    register,
)
from blocks.params import Param

_COMMON = (
    Param("stride", "int", 1, "Step S between windows; 2 halves the size.", 1, 64),
    Param(
        "padding",
        "padding",
        0,
        "Zeros P added on each side, or 'same' (keeps the size).",
        0,
        1024,
    ),
    Param(
        "dilation",
        "int",
        1,
        "Spacing between kernel taps (effective F = d·(F−1)+1).",
        1,
        64,
    ),
    Param(
        "groups",
        "int",
        1,
        "Split channels into independent groups (ResNeXt cardinality).",
        1,
        65536,
    ),
    Param(
        "bias",
        "bool",
        True,
        "Learn a bias per output channel (redundant before BatchNorm).",
    ),
)


class ConvBlock(BlockType):
    """Shared implementation; subclasses fix the number of spatial dimensions."""

    dims: ClassVar[int]
    category = "Convolution"

    def kernels(self, params: Params) -> tuple[int, ...]:
        return (params["kernel_size"],) * self.dims

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        sizes = spatial_input(self.title, inputs[0], self.dims)
        cin, cout, groups = inputs[0][0], params["out_channels"], params["groups"]
        if cin % groups or cout % groups:
            raise ShapeError(
                f"groups={groups} must divide both input channels {cin} and output channels "
                f"{cout}: use groups ∈ {{{', '.join(map(str, _divisors(math.gcd(cin, cout))))}}}"
            )
        kernels = self.kernels(params)
        formulas = tuple(
            window(axis, size, k, params["stride"], params["padding"], params["dilation"])
            for axis, size, k in zip(AXES[self.dims], sizes, kernels, strict=True)
        )
        out_sizes = tuple(f.out for f in formulas)
        per_out = cin // groups * math.prod(kernels)
        n_params = cout * per_out + (cout if params["bias"] else 0)
        return Inference(
            (cout, *out_sizes),
            params=n_params,
            macs=cout * per_out * math.prod(out_sizes),
            formulas=formulas,
            rf_kernel=formulas[0].kernel,
            rf_stride=params["stride"],
            layers=1,
        )

    def _ctor_args(self, params: Params, inputs: list[Shape]) -> tuple[list, dict]:
        kernels = self.kernels(params)
        kernel = kernels[0] if len(set(kernels)) == 1 else kernels
        kwargs = {}
        for name, default in (
            ("stride", 1),
            ("padding", 0),
            ("dilation", 1),
            ("groups", 1),
        ):
            if params[name] != default:
                kwargs[name] = params[name]
        if not params["bias"]:
            kwargs["bias"] = False
        return [inputs[0][0], params["out_channels"], kernel], kwargs

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        args, kwargs = self._ctor_args(params, inputs)
        return getattr(nn, self.title)(*args, **kwargs)

    def source(self, params: Params, inputs: list[Shape]) -> str:
        args, kwargs = self._ctor_args(params, inputs)
        return call_source(f"nn.{self.title}", args, kwargs)

    def summary(self, params: Params) -> str:
        kernel = "×".join(map(str, self.kernels(params)))
        text = f"{kernel}, {params['out_channels']}"
        if params["stride"] != 1:
            text += f", s{params['stride']}"
        if params["padding"] not in (0,):
            text += f", p{params['padding']}" if params["padding"] != "same" else ", same"
        if params["dilation"] != 1:
            text += f", d{params['dilation']}"
        if params["groups"] != 1:
            text += f", g{params['groups']}"
        return text


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0][:12]


_OUT = Param("out_channels", "int", 16, "Number of filters C_out.", 1, 65536)
_KERNEL = Param("kernel_size", "int", 3, "Kernel size F.", 1, 1024)


@register
class Conv2dBlock(ConvBlock):
    type_id = "conv2d"
    width_param = "out_channels"
    title = "Conv2d"
    dims = 2
    help = "2-D convolution: C_out filters of size C_in×F_h×F_w slide over the image."
    params = (
        _OUT,
        Param("kernel_h", "int", 3, "Kernel height F_h.", 1, 1024),
        Param("kernel_w", "int", 3, "Kernel width F_w.", 1, 1024),
        *_COMMON,
    )

    def kernels(self, params: Params) -> tuple[int, ...]:
        return (params["kernel_h"], params["kernel_w"])


@register
class Conv1dBlock(ConvBlock):
    type_id = "conv1d"
    title = "Conv1d"
    dims = 1
    help = "1-D convolution over a C×L sequence."
    params = (_OUT, _KERNEL, *_COMMON)


@register
class Conv3dBlock(ConvBlock):
    type_id = "conv3d"
    title = "Conv3d"
    dims = 3
    help = "3-D convolution over a C×D×H×W volume with a cubic F×F×F kernel."
    params = (_OUT, _KERNEL, *_COMMON)
