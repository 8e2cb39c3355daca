"""Merge blocks: several inputs become one tensor (residual sum, concatenation, gating)."""

from __future__ import annotations

from blocks.base import (
    BlockType,
    Inference,
    LazyModule,
    Params,
    Shape,
    ShapeError,
    nn,
    register,
    shape_text,
)
from blocks.params import Param

modules = LazyModule("blocks.modules")  # imported when a module is built

_INPUTS = Param("inputs", "int", 2, "Number of input ports (DenseNet-201 concatenates 49).", 2, 64)


class MergeBlock(BlockType):
    category = "Merge"

    def num_inputs(self, params: Params) -> int:
        return params.get("inputs", self.arity)

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(modules, self.title)()

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return f"{self.title}()"


def broadcast(a: Shape, b: Shape, i: int, fix: str) -> Shape:
    """torch's broadcasting of two per-sample shapes (sizes equal or 1), refusing different
    ranks: torch would line those up with the batch dimension included and mix samples.
    ``i`` is the port of ``b``; ``fix`` ends the message of a size conflict."""
    if len(a) != len(b):
        raise ShapeError(
            f"cannot broadcast {shape_text(a)} with {shape_text(b)}: they have "
            f"{len(a)} and {len(b)} dimensions; give both the same number (e.g. C×H×W and "
            "C×1×1): torch would line them up with the batch dimension and mix samples"
        )
    conflict = [d for d, (x, y) in enumerate(zip(a, b, strict=True)) if x != y and 1 not in (x, y)]
    if conflict:
        first = "input 0" if i == 1 else f"inputs 0–{i - 1}"
        if conflict == [0] and len(a) > 1:
            what = f"channel mismatch: {first} has {a[0]}, input {i} has {b[0]}"
        else:
            what = f"shape mismatch: {first} is {shape_text(a)}, input {i} is {shape_text(b)}"
        raise ShapeError(f"{what} (each size must be equal or 1): {fix}")
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))


@register
class AddBlock(MergeBlock):
    type_id = "add"
    inline = "+"
    title = "Add"
    help = (
        "Element-wise sum: the residual connection. Sizes must be equal or 1 (broadcast, as "
        "torch does), e.g. C×H×W + C×1×1."
    )
    params = (_INPUTS,)
    module_classes = ("Add",)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        out = inputs[0]
        for i, shape in enumerate(inputs[1:], start=1):
            channels = out[0] != shape[0] and len(out) == len(shape) > 1
            wider = max(out[0], shape[0])
            if channels:
                fix = f"project the shortcut with a 1×1 convolution to {wider} channels"
            elif len(out) == len(shape) == 1:
                fix = f"give both {wider} features (a Linear layer on the other)"
            else:
                fix = "give the shortcut a 1×1 convolution with the same stride as the branch"
            out = broadcast(out, shape, i, fix)
        return Inference(out)


@register
class ConcatBlock(MergeBlock):
    type_id = "concat"
    inline = "cat"
    title = "Concat"
    help = "Stacks inputs along channels (Inception, Fire). Spatial sizes must be equal."
    params = (_INPUTS,)
    module_classes = ("Concat",)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        first = inputs[0]
        for i, shape in enumerate(inputs[1:], start=1):
            if len(shape) != len(first) or shape[1:] != first[1:]:
                raise ShapeError(
                    f"spatial mismatch: input 0 is {shape_text(first)}, input {i} is "
                    f"{shape_text(shape)}; only channels may differ: match strides and "
                    "paddings of the branches (e.g. padding 1 for 3×3, 2 for 5×5)"
                )
        return Inference((sum(s[0] for s in inputs), *first[1:]))


@register
class MultiplyBlock(MergeBlock):
    type_id = "multiply"
    inline = "*"
    title = "Multiply"
    help = (
        "Element-wise product of two inputs (gating, as in squeeze-excitation). Sizes must be "
        "equal or 1 (broadcast), e.g. C×H×W · C×1×1."
    )
    arity = 2
    module_classes = ("Multiply",)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        a, b = inputs
        return Inference(broadcast(a, b, 1, "e.g. C×H×W · C×1×1"))
