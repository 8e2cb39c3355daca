"""Parameter grids for every registered block: (params, input shapes) cases.

Grids include the edge cases of the output-size formula: strides that leave remainders,
dilation, 'same' padding (with and without stride 1), ceil_mode, groups, kernels equal to or
larger than the padded input. Each case is either accepted by the shape pass (then torch must
produce exactly the predicted shape) or rejected with a ShapeError (then torch must fail too,
except where the shape pass is deliberately stricter: see STRICTER).
"""

from __future__ import annotations

import itertools
from typing import Any

Case = tuple[dict[str, Any], list[tuple[int, ...]]]


def _conv2d() -> list[Case]:
    out = []
    for k, s, p, d, g, size in itertools.product(
        (1, 3, 5), (1, 2, 3), (0, 1, "same"), (1, 2, 3), (1, 2, 4), (4, 7, 9)
    ):
        out.append(
            (
                {
                    "out_channels": 4,
                    "kernel_h": k,
                    "kernel_w": max(1, k - 2),
                    "stride": s,
                    "padding": p,
                    "dilation": d,
                    "groups": g,
                    "bias": g == 1,
                },
                [(4, size, size + 1)],
            )
        )
    out.append(({"out_channels": 6, "groups": 4}, [(4, 8, 8)]))  # 6 % 4 != 0
    out.append(({"out_channels": 4, "groups": 3}, [(4, 8, 8)]))  # 4 % 3 != 0
    out.append(({"out_channels": 4}, [(4, 8)]))  # wrong rank
    # 720 has 30 divisors: the message lists the first 12
    out.append(({"out_channels": 720, "groups": 7}, [(720, 4, 4)]))
    return out


def _conv_nd(dims: int) -> list[Case]:
    out = []
    spatial = {1: (9,), 3: (5, 6, 7)}[dims]
    for k, s, p, d in itertools.product((1, 3, 6), (1, 2), (0, 2, "same"), (1, 2, 3)):
        out.append(
            (
                {"out_channels": 3, "kernel_size": k, "stride": s, "padding": p, "dilation": d},
                [(2, *spatial)],
            )
        )
    out.append(({"out_channels": 3}, [(2, 8, 8)] if dims == 1 else [(2, 8)]))
    return out


def _pool() -> list[Case]:
    out = []
    for k, s, p, ceil, size in itertools.product(
        (1, 2, 3, 4), (0, 1, 2, 3), (0, 1, 2), (False, True), (3, 5, 8, 32)
    ):
        out.append(
            ({"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}, [(3, size, size)])
        )
    out.append(({"kernel_size": 2}, [(10,)]))
    return out


CASES: dict[str, list[Case]] = {
    "input": [
        ({"layout": "image", "channels": 3, "height": 8, "width": 9}, []),
        ({"layout": "vector", "features": 12}, []),
        ({"layout": "sequence", "channels": 2, "width": 7}, []),
        ({"layout": "volume", "channels": 2, "depth": 3, "height": 4, "width": 5}, []),
    ],
    "output": [
        ({"classes": 10}, [(10,)]),
        ({"classes": 0}, [(3, 4, 4)]),
        ({"classes": 10}, [(12,)]),
        ({"classes": 10}, [(10, 2, 2)]),
    ],
    "conv2d": _conv2d(),
    "conv1d": _conv_nd(1),
    "conv3d": _conv_nd(3),
    "maxpool2d": _pool(),
    "avgpool2d": _pool(),
    "adaptive_avgpool2d": [
        ({"output_h": 1, "output_w": 1}, [(3, 7, 7)]),
        ({"output_h": 7, "output_w": 5}, [(3, 5, 9)]),
        ({"output_h": 4, "output_w": 4}, [(3, 8, 8)]),  # 48 → 4: windows of 12, 12 apart
        ({"output_h": 6, "output_w": 2}, [(3, 12, 12)]),
        ({}, [(12,)]),
    ],
    "global_avgpool": [({}, [(5, 7, 3)]), ({}, [(5, 1, 1)]), ({}, [(5,)])],
    "flatten": [({}, [(3, 4, 5)]), ({}, [(7,)])],
    "linear": [
        ({"out_features": 5}, [(12,)]),
        ({"out_features": 3, "bias": False}, [(4,)]),
        ({"out_features": 5}, [(3, 4, 4)]),
    ],
    "batchnorm2d": [
        ({}, [(4, 3, 3)]),
        ({"eps": 1e-3, "momentum": 0.01}, [(2, 5, 5)]),
        ({}, [(8,)]),
    ],
    "batchnorm1d": [({}, [(8,)]), ({}, [(4, 6)]), ({}, [(4, 3, 3)])],
    "local_response_norm": [({}, [(8, 5, 5)]), ({"size": 3, "k": 1.0}, [(4, 6)]), ({}, [(7,)])],
    "dropout": [({"p": 0.3}, [(4, 5, 5)]), ({"p": 0.0}, [(9,)])],
    "dropout2d": [({"p": 0.2}, [(4, 5, 5)]), ({}, [(9,)])],
    "relu": [({}, [(3, 4, 4)]), ({}, [(5,)])],
    "leaky_relu": [({"negative_slope": 0.2}, [(3, 4, 4)])],
    "elu": [({"alpha": 0.5}, [(6,)])],
    "gelu": [({}, [(3, 2, 2)]), ({"approximate": "tanh"}, [(4,)])],
    "silu": [({}, [(3, 4, 4)])],
    "relu6": [({}, [(3, 4, 4)]), ({}, [(5,)])],
    "hardswish": [({}, [(3, 4, 4)])],
    "hardsigmoid": [({}, [(6,)])],
    "tanh": [({}, [(5,)])],
    "sigmoid": [({}, [(3, 4, 4)])],
    "softmax": [({}, [(10,)]), ({}, [(3, 2, 2)]), ({}, [(3, 5)]), ({}, [()])],
    "add": [
        ({}, [(6,), (5,)]),  # vectors: a shape mismatch, not channels
        ({}, [(4, 6), (3, 6)]),  # sequences: channels
        ({}, [(4, 5, 5), (4, 5, 5)]),
        ({"inputs": 3}, [(6,), (6,), (6,)]),
        ({}, [(4, 5, 5), (8, 5, 5)]),
        ({}, [(4, 5, 5), (4, 3, 3)]),
        ({}, [(4, 5, 5), (4, 1, 1)]),  # C×H×W + C×1×1 broadcasts, as in torch
        ({}, [(1, 5, 5), (4, 5, 5)]),
        ({}, [(6,), (1,)]),
        ({"inputs": 3}, [(4, 1, 5), (1, 5, 1), (4, 5, 5)]),
        ({}, [(4, 5, 5), (5, 5)]),  # different ranks: refused (samples would mix)
        ({"inputs": 3}, [(4, 5, 5), (4, 1, 1), (3, 5, 5)]),
    ],
    "concat": [
        ({}, [(4, 5, 5), (3, 5, 5)]),
        ({"inputs": 3}, [(2,), (3,), (4,)]),
        ({}, [(4, 5, 5), (4, 4, 5)]),
        ({}, [(4, 5, 5), (20,)]),
    ],
    "multiply": [
        ({}, [(4, 5, 5), (4, 1, 1)]),
        ({}, [(4, 5, 5), (4, 5, 5)]),
        ({}, [(4, 5, 5), (3, 1, 1)]),
        ({}, [(4, 5, 5), (4,)]),
    ],
    "conv_bn_relu": [
        ({}, [(8,)]),
        ({"out_channels": 8, "kernel_size": 3, "stride": 2}, [(3, 9, 9)]),
        (
            {"out_channels": 8, "kernel_size": 7, "stride": 2, "padding": 3, "batch_norm": False},
            [(3, 16, 16)],
        ),
        ({"out_channels": 8, "kernel_size": 5, "padding": 0}, [(3, 3, 3)]),
    ],
    "residual": [
        ({"kind": kind, "channels": 8, "stride": s, "version": v, "se_reduction": r}, [(cin, 9, 9)])
        for kind, s, v, r, cin in itertools.product(
            ("basic", "bottleneck"), (1, 2), ("v1", "v1.5", "v2"), (0, 4), (8, 32)
        )
    ]
    + [
        (
            {"kind": "bottleneck", "channels": 8, "groups": 4, "base_width": 4, "stride": 2},
            [(16, 8, 8)],
        ),
        ({"kind": "bottleneck", "channels": 8, "base_width": 128}, [(32, 4, 4)]),
        ({"kind": "basic", "channels": 8, "groups": 2}, [(8, 4, 4)]),
        ({"kind": "basic", "channels": 8, "base_width": 32}, [(8, 4, 4)]),
        ({"kind": "basic", "channels": 8}, [(8,)]),
        # ResNeXt / Wide ResNet widths: int(channels · base_width / 64) · groups
        ({"kind": "bottleneck", "channels": 8, "groups": 2}, [(32, 6, 6)]),
        ({"kind": "bottleneck", "channels": 8, "groups": 4, "base_width": 32}, [(16, 6, 6)]),
        ({"kind": "bottleneck", "channels": 16, "base_width": 4}, [(64, 4, 4)]),  # width 1
        ({"kind": "bottleneck", "channels": 8, "stride": 2, "version": "v1"}, [(32, 8, 8)]),
        ({"kind": "basic", "channels": 8, "se_reduction": 16}, [(8, 6, 6)]),  # 8 // 16 → 1
    ],
    "squeeze_excite": [
        ({"reduction": 4}, [(16, 5, 5)]),
        ({"reduction": 64}, [(16, 3, 3)]),
        ({}, [(16,)]),
    ],
    "inception": [
        ({}, [(16,)]),
        ({}, [(16, 7, 7)]),
        (
            {
                "kernel": 3,
                "batch_norm": False,
                "ch1x1": 4,
                "ch3x3red": 3,
                "ch3x3": 5,
                "ch5x5red": 2,
                "ch5x5": 3,
                "pool_proj": 2,
            },
            [(8, 5, 5)],
        ),
        ({"kernel": 4}, [(8, 5, 5)]),
    ],
    "fire": [({"squeeze": 4, "expand1x1": 8, "expand3x3": 8}, [(16, 6, 6)]), ({}, [(16,)])],
    "nin_block": [
        ({}, [(8,)]),
        ({}, [(3, 9, 9)]),  # the block's defaults: padding 1
        ({"channels": 6, "mid_channels": 1, "out_channels": 1, "padding": 0}, [(3, 7, 7)]),
        ({"channels": 8, "kernel_size": 5, "stride": 2, "padding": 2}, [(3, 11, 11)]),
        (
            {"channels": 12, "kernel_size": 5, "padding": 2, "mid_channels": 10, "out_channels": 6},
            [(3, 8, 8)],
        ),
        ({"channels": 8, "kernel_size": 11, "stride": 4, "padding": 0}, [(3, 8, 8)]),
        ({"channels": 6, "out_channels": 2}, [(3, 5, 5)]),  # 6-6-2 on its card
        ({"channels": 6, "mid_channels": 3}, [(3, 5, 5)]),  # 6-3-6
    ],
    "opaque": [
        (
            {
                "target": "torchvision.ops.stochastic_depth.StochasticDepth",
                "arguments": '{"kwargs": {"p": 0.2, "mode": "row"}}',
                "in_shape": [4, 5, 5],
                "out_shape": [4, 5, 5],
            },
            [(4, 5, 5)],
        ),
        (
            {
                "target": "torch.nn.LayerNorm",
                "arguments": '{"args": [[5, 5]], "kwargs": {"eps": 1e-06}}',
                "in_shape": [4, 5, 5],
                "out_shape": [4, 5, 5],
                "parameters": 50,
                "reason": "the function layer_norm",
            },
            [(4, 5, 5)],
        ),
        ({"in_shape": [4, 5, 5], "out_shape": [4, 5, 5]}, [(4, 6, 6)]),  # another input size
        ({"target": "os.system", "in_shape": [4], "out_shape": [4]}, [(4,)]),  # not torch's
        ({"arguments": "[1", "in_shape": [4], "out_shape": [4]}, [(4,)]),
        ({"arguments": "[1]", "in_shape": [4], "out_shape": [4]}, [(4,)]),
    ],
    "inverted_residual": [
        ({}, [(16,)]),
        ({}, [(16, 6, 6)]),  # t = 6, stride 1, 16 → 16: the input added back
        ({"out_channels": 24, "stride": 2}, [(16, 7, 7)]),
        ({"out_channels": 8, "expand_ratio": 1}, [(8, 5, 5)]),
        ({"out_channels": 4, "expand_ratio": 3, "stride": 2}, [(3, 9, 9)]),
    ],
    "dense_layer": [
        ({}, [(16,)]),
        ({"growth_rate": 4, "bn_size": 2}, [(6, 5, 7)]),
        ({"growth_rate": 1, "bn_size": 1}, [(1, 1, 1)]),
        ({"growth_rate": 12}, [(24, 4, 4)]),
    ],
}

#: ShapeError messages that restate a PyTorch limit: for these, torch must fail as well.
#: Other ShapeErrors (wrong rank into Linear, BatchNorm2d on vectors...) are deliberately stricter
#: than torch, which would broadcast or reinterpret the tensor instead of failing.
TORCH_LIMITS = ("padded input", "padding='same' needs stride 1", "must divide", "more than half")
