"""Output-size arithmetic shared by every spatial block: ``floor((W - F + 2P) / S) + 1``."""

from __future__ import annotations

from dataclasses import dataclass, field

from blocks.base import Formula, Shape, ShapeError, shape_text

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
LAYOUTS = {1: "C×L", 2: "C×H×W", 3: "C×D×H×W"}


def window(
    axis: str,
    size: int,
    kernel: int,
    stride: int,
    padding: int | str,
    dilation: int = 1,
    *,
    ceil: bool = False,
    pool: bool = False,
) -> Formula:
    """Apply the output-size formula on one axis, or raise ShapeError with numbers and a fix."""
    eff = dilation * (kernel - 1) + 1
    if padding == "same":
        if stride != 1:
            raise ShapeError(
                f"padding='same' needs stride 1 in PyTorch, stride is {stride}: "
                f"use padding={(eff - 1) // 2} with stride {stride} instead"
            )
        return Formula(axis, size, eff, (eff - 1) // 2, 1, size, dilation, kernel, same=True)
    assert isinstance(padding, int)
    if pool and 2 * padding > eff:
        raise ShapeError(
            f"{axis}: padding {padding} is more than half the kernel {eff} "
            f"(PyTorch pooling needs P ≤ F/2): use padding ≤ {eff // 2}"
        )
    padded = size + 2 * padding
    need = -(-(eff - size) // 2)
    num = padded - eff
    if not pool and padded < eff:  # PyTorch convolutions refuse kernels larger than the input
        raise ShapeError(
            f"{axis}: kernel {eff} > padded input {padded} ({size} + 2·{padding}), "
            f"so {axis}_out = floor(({size} − {eff} + 2·{padding}) / {stride}) + 1 ≤ 0: "
            f"use padding ≥ {need} or a kernel ≤ {padded}"
        )
    # Pooling follows ATen's pooling_output_shape: floor toward −∞ (ceil adds S − 1), and with
    # ceil_mode the last window must start inside the input or the left padding.
    out = (num + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ShapeError(
            f"{axis}: window {eff} does not fit the padded input {padded} ({size} + 2·{padding}):"
            f" {axis}_out = {'ceil' if ceil else 'floor'}(({size} − {eff} + 2·{padding}) / "
            f"{stride}) + 1 = {out} ≤ 0: use padding ≥ {need}, a smaller kernel or ceil_mode"
        )
    return Formula(axis, size, eff, padding, stride, out, dilation, kernel, ceil=ceil)


def spatial_input(title: str, shape: Shape, dims: int) -> Shape:
    """Check that ``shape`` is C×(spatial×dims) and return the spatial sizes."""
    if len(shape) != dims + 1:
        if len(shape) == 1:
            hint = "it receives a flat vector; remove the Flatten above or use a Linear layer"
        else:
            names = {len(v) + 1: f"the {k}-D version of this block" for k, v in AXES.items()}
            hint = f"use {names[len(shape)]}" if len(shape) in names else "reshape the input"
        raise ShapeError(f"{title} needs a {LAYOUTS[dims]} input, got {shape_text(shape)}: {hint}")
    return shape[1:]


def rf_chain(layers: list[tuple[int, int]]) -> tuple[int, int]:
    """Equivalent (kernel, stride) of a chain of (kernel, stride) layers for receptive fields."""
    kernel, jump = 1, 1
    for k, s in layers:
        kernel += (k - 1) * jump
        jump *= s
    return kernel, jump


@dataclass
class Tally:
    """Accumulates parameters, MACs and stride formulas while simulating a composite block."""

    params: int = 0
    macs: int = 0
    formulas: list[Formula] = field(default_factory=list)

    def conv(
        self,
        cin: int,
        cout: int,
        kernel: int,
        hw: tuple[int, ...],
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = False,
    ) -> tuple[int, ...]:
        out = []
        for axis, size in zip(("H", "W"), hw, strict=True):
            f = window(axis, size, kernel, stride, padding)
            if stride != 1 or f.out != size:
                self.formulas.append(f)
            out.append(f.out)
        per_out = (cin // groups) * kernel * kernel
        self.params += cout * per_out + (cout if bias else 0)
        self.macs += cout * per_out * out[0] * out[1]
        return tuple(out)

    def bn(self, channels: int) -> None:
        self.params += 2 * channels
