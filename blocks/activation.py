"""Element-wise activation blocks. They never change the shape."""

from __future__ import annotations

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


class ActivationBlock(BlockType):
    category = "Activation"
    keeps_width = True

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        return Inference(inputs[0])

    def _kwargs(self, params: Params) -> dict:
        return {p.name: params[p.name] for p in self.params if params[p.name] != p.default}

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(nn, self.title)(**self._kwargs(params))

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return call_source(f"nn.{self.title}", [], self._kwargs(params))


def _activation(type_id: str, title: str, help_text: str, *params: Param) -> None:
    cls = type(
        f"{title}Block",
        (ActivationBlock,),
        {
            "type_id": type_id,
            "title": title,
            "help": help_text,
            "params": params,
            "__module__": __name__,
        },
    )
    register(cls)


_activation("relu", "ReLU", "max(0, x): the default activation of modern CNNs.")
_activation(
    "leaky_relu",
    "LeakyReLU",
    "x for x > 0, slope·x otherwise: no dead units.",
    Param("negative_slope", "float", 0.01, "Slope for negative inputs.", 0.0, 1.0),
)
_activation(
    "elu",
    "ELU",
    "x for x > 0, α(eˣ − 1) otherwise: smooth, negative outputs.",
    Param(
        "alpha",
        "float",
        1.0,
        "Saturation value −α for large negative inputs.",
        0.0,
        100.0,
    ),
)
_activation(
    "gelu",
    "GELU",
    "x·Φ(x): the smooth activation of transformers.",
    Param(
        "approximate",
        "choice",
        "none",
        "Exact (none) or tanh approximation.",
        choices=("none", "tanh"),
    ),
)
_activation("silu", "SiLU", "x·sigmoid(x) (swish): smooth, used by EfficientNet.")
_activation("relu6", "ReLU6", "min(max(0, x), 6): ReLU capped at 6, MobileNetV2's activation.")
_activation(
    "hardswish",
    "Hardswish",
    "x·ReLU6(x + 3)/6: a cheap swish, MobileNetV3's activation.",
)
_activation(
    "hardsigmoid",
    "Hardsigmoid",
    "ReLU6(x + 3)/6: a cheap sigmoid, MobileNetV3's squeeze-excitation gate.",
)
_activation("tanh", "Tanh", "Squashes to (−1, 1); LeCun's networks used it.")
_activation("sigmoid", "Sigmoid", "Squashes to (0, 1); gates and binary outputs.")


@register
class SoftmaxBlock(ActivationBlock):
    type_id = "softmax"
    outputs_probabilities = True
    title = "Softmax"
    help = (
        "Turns scores into probabilities over the channel/feature axis. Not needed before "
        "training with cross-entropy, which applies log-softmax itself."
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        if not inputs[0]:
            raise ShapeError(
                "Softmax needs an axis to normalise over, got a scalar: place it after the "
                "last Linear layer"
            )
        return Inference(inputs[0])

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return nn.Softmax(dim=1)

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return "nn.Softmax(dim=1)"
