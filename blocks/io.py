"""Input and Output blocks: where tensors enter and leave the network."""

from __future__ import annotations

from blocks.base import (
    BlockType,
    Inference,
    Params,
    Shape,
    ShapeError,
    nn,
    register,
    shape_text,
)
from blocks.params import Param

LAYOUT_SHAPES = {
    "image": "C×H×W",
    "vector": "F",
    "sequence": "C×L",
    "volume": "C×D×H×W",
}


#: the params each layout reads (the Inspector shows no others: an image has no depth)
_LAYOUT_PARAMS = {
    "image": ("channels", "height", "width"),
    "vector": ("features",),
    "sequence": ("channels", "width"),
    "volume": ("channels", "depth", "height", "width"),
}


def input_shape(params: Params) -> Shape:
    """The tensor shape (without batch) described by an Input node's params."""
    layout = params["layout"]
    c, h, w, d = params["channels"], params["height"], params["width"], params["depth"]
    if layout == "image":
        return (c, h, w)
    if layout == "vector":
        return (params["features"],)
    if layout == "sequence":
        return (c, w)
    return (c, d, h, w)


@register
class InputBlock(BlockType):
    type_id = "input"
    title = "Input"
    category = "Input / Output"
    help = "The network's input tensor: an image C×H×W, a flat vector, a sequence or a volume."
    arity = 0
    params = (
        Param(
            "layout",
            "choice",
            "image",
            "Tensor layout of one sample.",
            choices=tuple(LAYOUT_SHAPES),
        ),
        Param("channels", "int", 3, "Channels C (3 for RGB, 1 for greyscale).", 1, 65536),
        Param("height", "int", 32, "Height H in pixels (image, volume).", 1, 16384),
        Param(
            "width",
            "int",
            32,
            "Width W in pixels, or length L of a sequence.",
            1,
            16384,
        ),
        Param("depth", "int", 16, "Depth D of a volume.", 1, 4096),
        Param(
            "features",
            "int",
            784,
            "Number of features of a flat vector.",
            1,
            10_000_000,
        ),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        return Inference(input_shape(params))

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return nn.Identity()

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return "nn.Identity()"

    def summary(self, params: Params) -> str:
        return shape_text(input_shape(params))

    def active_params(self, params: Params) -> tuple[str, ...]:
        return ("layout", *_LAYOUT_PARAMS[params["layout"]])


@register
class OutputBlock(BlockType):
    type_id = "output"
    keeps_width = True
    title = "Output"
    category = "Input / Output"
    help = (
        "Marks the network's output (the class scores). With classes > 0 it checks that the "
        "incoming tensor has exactly that many features."
    )
    params = (
        Param(
            "classes",
            "int",
            0,
            "Number of classes expected (0: do not check).",
            0,
            1_000_000,
        ),
    )

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        (shape,) = inputs
        n = params["classes"]
        if n and shape != (n,):
            fix = (
                f"set the last Linear layer's out_features to {n}"
                if len(shape) == 1
                else f"add global average pooling / Flatten and a Linear layer with {n} outputs"
            )
            raise ShapeError(f"expected {n} class scores, got {shape_text(shape)}: {fix}")
        return Inference(shape)

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return nn.Identity()

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return "nn.Identity()"

    def summary(self, params: Params) -> str:
        return f"{params['classes']} classes" if params["classes"] else ""
