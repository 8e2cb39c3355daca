"""Normalisation and regularisation blocks: BatchNorm, LocalResponseNorm, Dropout."""

from __future__ import annotations

from typing import ClassVar

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

_EPS = Param("eps", "float", 1e-5, "Added to the variance for numerical stability.", 1e-12, 1.0)
_MOMENTUM = Param(
    "momentum",
    "float",
    0.1,
    "Weight of each batch in the running statistics.",
    0.0,
    1.0,
)


class BatchNormBlock(BlockType):
    category = "Normalization"
    keeps_width = True
    normalizes_batch = True
    ranks: ClassVar[tuple[int, ...]]
    expects: ClassVar[str]
    other: ClassVar[str]
    params = (_EPS, _MOMENTUM)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        shape = inputs[0]
        if len(shape) not in self.ranks:
            raise ShapeError(
                f"{self.title} needs {self.expects}, got {shape_text(shape)}: use {self.other}"
            )
        return Inference(shape, params=2 * shape[0])

    def _kwargs(self, params: Params) -> dict:
        kwargs = {}
        if params["eps"] != 1e-5:
            kwargs["eps"] = params["eps"]
        if params["momentum"] != 0.1:
            kwargs["momentum"] = params["momentum"]
        return kwargs

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(nn, self.title)(inputs[0][0], **self._kwargs(params))

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return call_source(f"nn.{self.title}", [inputs[0][0]], self._kwargs(params))


@register
class BatchNorm2dBlock(BatchNormBlock):
    type_id = "batchnorm2d"
    title = "BatchNorm2d"
    help = "Normalises each channel over the batch and H×W, then scales and shifts (γ, β)."
    ranks = (3,)
    expects = "a C×H×W input"
    other = "BatchNorm1d for vectors and sequences"


@register
class BatchNorm1dBlock(BatchNormBlock):
    type_id = "batchnorm1d"
    title = "BatchNorm1d"
    help = "Normalises each feature (or channel of a sequence) over the batch."
    ranks = (1, 2)
    expects = "a vector or a C×L sequence"
    other = "BatchNorm2d for images"


@register
class LocalResponseNormBlock(BlockType):
    type_id = "local_response_norm"
    keeps_width = True
    title = "LocalResponseNorm"
    category = "Normalization"
    help = "AlexNet's normalisation across neighbouring channels (outdated; BN replaced it)."
    params = (
        Param("size", "int", 5, "Number of neighbouring channels.", 1, 1024),
        Param("alpha", "float", 1e-4, "Scale α.", 0.0, 10.0),
        Param("beta", "float", 0.75, "Exponent β.", 0.0, 10.0),
        Param("k", "float", 2.0, "Additive constant k.", 0.0, 100.0),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        if len(inputs[0]) < 2:
            raise ShapeError(
                f"LocalResponseNorm needs channels with spatial extent, got "
                f"{shape_text(inputs[0])}: place it after a convolution, before Flatten"
            )
        return Inference(inputs[0])

    #: torch's defaults (k differs from this block's, AlexNet's 2): not written out
    TORCH_DEFAULTS: ClassVar[dict[str, float]] = {"alpha": 1e-4, "beta": 0.75, "k": 1.0}

    def _args(self, params: Params) -> tuple[list, dict]:
        kwargs = {n: params[n] for n, d in self.TORCH_DEFAULTS.items() if params[n] != d}
        return [params["size"]], kwargs

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        args, kwargs = self._args(params)
        return nn.LocalResponseNorm(*args, **kwargs)

    def source(self, params: Params, inputs: list[Shape]) -> str:
        args, kwargs = self._args(params)
        return call_source("nn.LocalResponseNorm", args, kwargs)


_P = Param(
    "p",
    "float",
    0.5,
    "Probability of zeroing an element during training.",
    0.0,
    1.0,
    max_exclusive=True,
)


@register
class DropoutBlock(BlockType):
    type_id = "dropout"
    keeps_width = True
    drops_out = True
    title = "Dropout"
    category = "Regularization"
    help = "Zeroes random elements with probability p in training (scaled by 1/(1−p)); off in eval."
    params = (_P,)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        return Inference(inputs[0])

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(nn, self.title)(params["p"])

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return call_source(f"nn.{self.title}", [params["p"]], {})

    def summary(self, params: Params) -> str:
        return f"p={params['p']:g}"


@register
class Dropout2dBlock(DropoutBlock):
    type_id = "dropout2d"
    title = "Dropout2d"
    help = "Zeroes whole channels with probability p in training (spatial dropout)."

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        if len(inputs[0]) != 3:
            raise ShapeError(
                f"Dropout2d drops whole channels of a C×H×W input, got "
                f"{shape_text(inputs[0])}: use Dropout"
            )
        return Inference(inputs[0])
