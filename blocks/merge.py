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

_INPUTS = Param("inputs", "int", 2, "Number of input ports.", 2, 16)


class MergeBlock(BlockType):
    category = "Merge"

    def num_inputs(self, params: Params) -> int:
        return params.get("inputs", self.arity)

    def build(self, params: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(modules, self.title)()

    def source(self, params: Params, inputs: list[Shape]) -> str:
        return f"{self.title}()"


@register
class AddBlock(MergeBlock):
    type_id = "add"
    title = "Add"
    help = "Element-wise sum: the residual connection. All inputs must have the same shape."
    params = (_INPUTS,)
    module_classes = ("Add",)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        first = inputs[0]
        for i, shape in enumerate(inputs[1:], start=1):
            if shape == first:
                continue
            if len(shape) == len(first) and shape[0] != first[0]:
                what = f"channel mismatch: input 0 has {first[0]}, input {i} has {shape[0]}"
                fix = (
                    "project the shortcut with a 1×1 convolution to "
                    f"{max(first[0], shape[0])} channels"
                )
            else:
                what = (
                    f"shape mismatch: input 0 is {shape_text(first)}, input {i} is "
                    f"{shape_text(shape)}"
                )
                fix = "give the shortcut a 1×1 convolution with the same stride as the branch"
            raise ShapeError(f"{what}: {fix}")
        return Inference(first)


@register
class ConcatBlock(MergeBlock):
    type_id = "concat"
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
    title = "Multiply"
    help = (
        "Element-wise product of two inputs (gating, as in squeeze-excitation). Sizes must be "
        "equal or 1 (broadcast), e.g. C×H×W · C×1×1."
    )
    arity = 2
    module_classes = ("Multiply",)

    def infer(self, params: Params, inputs: list[Shape]) -> Inference:
        a, b = inputs
        if len(a) != len(b):
            raise ShapeError(
                f"cannot broadcast {shape_text(a)} with {shape_text(b)}: they have "
                f"{len(a)} and {len(b)} dimensions; give both the same number (e.g. C×H×W · "
                "C×1×1): torch would line them up with the batch dimension and mix samples"
            )
        if any(x != y and 1 not in (x, y) for x, y in zip(a, b, strict=True)):
            raise ShapeError(
                f"cannot broadcast {shape_text(a)} with {shape_text(b)}: each size must be "
                "equal or 1 (e.g. C×H×W · C×1×1)"
            )
        return Inference(tuple(max(x, y) for x, y in zip(a, b, strict=True)))
