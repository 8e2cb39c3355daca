"""One windowed block at a time against torch: convolutions and pooling with every value class
of their parameters drawn (dilation up to 4, stride above the kernel, ceil_mode with padding,
groups equal to the channels, 'same' padding) on inputs sized around the effective kernel, so
most draws are valid and the formula is tested where it is easy to get wrong.

The graph oracle (test_shape_oracle.py) draws whole networks, where a wrong formula for a rare
value class hides among graphs that fail for other reasons; this one meets each class often.
``pytest --hypothesis-show-statistics`` prints how often each class was drawn.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blocks import REGISTRY, ShapeError
from tests.blocks.cases import TORCH_LIMITS

EXAMPLES = int(os.environ.get("NETBUILDER_ORACLE_EXAMPLES", "150"))
RANKS = {"conv1d": 1, "conv2d": 2, "conv3d": 3, "maxpool2d": 2, "avgpool2d": 2}


@st.composite
def windowed(draw):
    type_id = draw(st.sampled_from(sorted(RANKS)))
    block = REGISTRY.get(type_id)
    names = {p.name for p in block.params}
    kernel = draw(st.integers(1, 5))
    stride = draw(st.integers(0 if type_id.endswith("pool2d") else 1, 4))
    params: dict = {"stride": stride}
    channels = draw(st.sampled_from([1, 2, 4]))
    if "dilation" in names:
        dilation = draw(st.integers(1, 4))
        groups = draw(st.sampled_from(sorted({1, channels})))
        padding = draw(st.one_of(st.integers(0, 3), st.just("same")))
        params |= {"dilation": dilation, "groups": groups, "out_channels": channels * 2}
        event(f"dilation {dilation}")
        event(f"groups {'= channels' if groups == channels > 1 else groups}")
    else:
        dilation = 1
        padding = draw(st.integers(0, 3))
        params["ceil_mode"] = draw(st.booleans())
        event(f"ceil_mode {params['ceil_mode']}, padding {'> 0' if padding else '0'}")
    params |= {"padding": padding}
    if "kernel_h" in names:
        params |= {"kernel_h": kernel, "kernel_w": draw(st.integers(1, 5))}
    else:
        params["kernel_size"] = kernel
    event(f"stride {'> kernel' if stride > kernel else '≤ kernel'}")
    event(f"padding {padding if padding == 'same' else 'number'}")
    span = dilation * (kernel - 1) + 1  # sizes around the effective kernel
    sizes = st.integers(max(1, span - 3), span + 6)
    shape = (channels, *(draw(sizes) for _ in range(RANKS[type_id])))
    return type_id, params, shape


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's note on 'same' with even kernels
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(windowed())
def test_every_windowed_block_agrees_with_torch(case):
    type_id, raw, shape = case
    block = REGISTRY.get(type_id)
    try:
        params = block.validate(raw)
    except ValueError:
        event("refused by validation")
        return
    try:
        predicted = block.infer(params, [shape]).shape
    except ShapeError as exc:
        event("shape error predicted")
        if any(key in str(exc) for key in TORCH_LIMITS):
            return  # torch raises assorted exception types for these (tested in the grids)
        with pytest.raises(Exception), torch.device("meta"):  # noqa: B017
            block.build(params, [shape])(torch.randn(2, *shape))
        return
    event("valid")
    with torch.device("meta"):
        out = block.build(params, [shape])(torch.randn(2, *shape))
    assert tuple(out.shape[1:]) == predicted, (type_id, params, shape)
