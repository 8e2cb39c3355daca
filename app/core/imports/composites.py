"""Whole modules imported as one composite block: torchvision's ``BasicBlock``, ``Bottleneck``,
``BasicConv2d``, ``Inception``, ``Fire``, ``SqueezeExcitation`` and MobileNetV2's
``InvertedResidual``, and the classes of a file NetBuilder exported (``ResidualBlock``,
``ConvUnit``, ``DenseLayer``…, recognised by name).

A candidate's block parameters are read from its submodules, and then it must prove it computes
exactly what the block computes: the block's module holds the same weights under the same names
with the same settings (each layer's ``extra_repr``: kernel, stride, eps, momentum…), and on a
random input of the traced shape, with the candidate's own weights, gives the same output. A
module that fails is traced through instead, into primitive blocks: a user's class that only
shares a name is never mistaken for the block.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from blocks import REGISTRY

Spec = tuple[str, dict[str, Any]]


def _square(value: Any) -> int | None:
    values = (value,) if isinstance(value, int) else tuple(value)
    return int(values[0]) if len(set(values)) == 1 else None


def _se_reduction(channels: int, squeeze: int) -> int | None:
    """The ratio r with ``max(1, channels // r) == squeeze`` (the block's rule), if any: the
    largest, ``channels // squeeze`` (r = 16 for 64 → 4, where 13 to 16 all give 4)."""
    if squeeze < 1:
        return None
    r = max(1, channels // squeeze)
    return r if max(1, channels // r) == squeeze else None


def _gate(m: nn.Module) -> int:
    """The reduction of a block's squeeze-excitation gate (0: none)."""
    se = getattr(m, "se", None)
    if se is None:
        return 0
    r = _se_reduction(se.fc2.out_channels, se.fc1.out_channels)
    if r is None:
        raise ValueError("a squeeze width no reduction ratio gives")
    return r


def _basic(m: nn.Module) -> Spec:
    pre = "PreAct" in type(m).__name__
    return "residual", {
        "kind": "basic",
        "channels": m.conv1.out_channels,
        "stride": _square(m.conv1.stride),
        "version": "v2" if pre else "v1.5",
        "se_reduction": _gate(m),
    }


def _bottleneck(m: nn.Module) -> Spec:
    pre = "PreAct" in type(m).__name__
    channels = m.conv3.out_channels // 4
    groups = m.conv2.groups
    width = m.conv1.out_channels
    s1, s3 = _square(m.conv1.stride), _square(m.conv2.stride)
    return "residual", {
        "kind": "bottleneck",
        "channels": channels,
        "stride": max(s1 or 1, s3 or 1),
        "version": "v2" if pre else ("v1" if s1 != 1 else "v1.5"),
        "groups": groups,
        "base_width": (width // groups) * 64 // max(1, channels),
        "se_reduction": _gate(m),
    }


def _conv_unit(m: nn.Module) -> Spec:
    bn = getattr(m, "bn", None)
    batch_norm = isinstance(bn, nn.BatchNorm2d)
    return "conv_bn_relu", {
        "out_channels": m.conv.out_channels,
        "kernel_size": _square(m.conv.kernel_size),
        "stride": _square(m.conv.stride),
        "padding": _square(m.conv.padding),
        "batch_norm": batch_norm,
        "bn_eps": float(bn.eps) if batch_norm else 1e-5,
    }


def _inception(m: nn.Module) -> Spec:
    return "inception", {
        "ch1x1": m.branch1.conv.out_channels,
        "ch3x3red": m.branch2[0].conv.out_channels,
        "ch3x3": m.branch2[1].conv.out_channels,
        "ch5x5red": m.branch3[0].conv.out_channels,
        "ch5x5": m.branch3[1].conv.out_channels,
        "pool_proj": m.branch4[1].conv.out_channels,
        "kernel": _square(m.branch3[1].conv.kernel_size),
        "batch_norm": isinstance(getattr(m.branch1, "bn", None), nn.BatchNorm2d),
    }


def _fire(m: nn.Module) -> Spec:
    return "fire", {
        "squeeze": m.squeeze.out_channels,
        "expand1x1": m.expand1x1.out_channels,
        "expand3x3": m.expand3x3.out_channels,
    }


def _nin(m: nn.Module) -> Spec:
    c = m.conv1.out_channels
    return "nin_block", {
        "channels": c,
        "kernel_size": _square(m.conv1.kernel_size),
        "stride": _square(m.conv1.stride),
        "padding": _square(m.conv1.padding),
        "mid_channels": 0 if m.conv2.out_channels == c else m.conv2.out_channels,
        "out_channels": 0 if m.conv3.out_channels == c else m.conv3.out_channels,
    }


def _squeeze_excite(m: nn.Module) -> Spec:
    r = _se_reduction(m.fc2.out_channels, m.fc1.out_channels)
    if r is None:
        raise ValueError("a squeeze width no reduction ratio gives")
    return "squeeze_excite", {"reduction": r}


def _dense_layer(m: nn.Module) -> Spec:
    k = m.conv2.out_channels
    return "dense_layer", {"growth_rate": k, "bn_size": m.conv1.out_channels // max(1, k)}


def _inverted_residual(m: nn.Module) -> Spec:
    first = m.conv[0][0]
    cin = first.in_channels
    hidden = m.conv[-2].in_channels
    if hidden % cin:
        raise ValueError("an expansion that is not a whole ratio")
    return "inverted_residual", {
        "out_channels": m.conv[-2].out_channels,
        "stride": _square(m.conv[-3][0].stride),
        "expand_ratio": hidden // cin,
    }


#: class names NetBuilder exports (blocks.modules) → how to read the block's parameters
BY_NAME: dict[str, Callable[[nn.Module], Spec]] = {
    "ResidualBlock": _basic,
    "SEResidualBlock": _basic,
    "PreActResidualBlock": _basic,
    "SEPreActResidualBlock": _basic,
    "BottleneckBlock": _bottleneck,
    "SEBottleneckBlock": _bottleneck,
    "PreActBottleneckBlock": _bottleneck,
    "SEPreActBottleneckBlock": _bottleneck,
    "ConvUnit": _conv_unit,
    "Inception": _inception,
    "Fire": _fire,
    "NiNBlock": _nin,
    "SqueezeExcite": _squeeze_excite,
    "DenseLayer": _dense_layer,
    "InvertedResidual": _inverted_residual,
}

#: torchvision's classes (by identity) → the same readers
TORCHVISION: dict[tuple[str, str], Callable[[nn.Module], Spec]] = {
    ("torchvision.models.resnet", "BasicBlock"): _basic,
    ("torchvision.models.resnet", "Bottleneck"): _bottleneck,
    ("torchvision.models.googlenet", "BasicConv2d"): _conv_unit,
    ("torchvision.models.googlenet", "Inception"): _inception,
    ("torchvision.models.squeezenet", "Fire"): _fire,
    ("torchvision.ops.misc", "SqueezeExcitation"): _squeeze_excite,
    ("torchvision.models.mobilenetv2", "InvertedResidual"): _inverted_residual,
}


def _reader(m: nn.Module) -> Callable[[nn.Module], Spec] | None:
    cls = type(m)
    for (module, name), reader in TORCHVISION.items():
        loaded = sys.modules.get(module)
        if loaded is not None and getattr(loaded, name, None) is cls:
            return reader
    if cls.__module__.startswith(("torch.", "torchvision.")):
        return None  # a library class that only shares a name
    return BY_NAME.get(cls.__name__)


def is_candidate(m: nn.Module) -> bool:
    """Whether ``m`` may be one composite block (kept whole while tracing)."""
    return _reader(m) is not None


def _layers(m: nn.Module) -> list[tuple[str, str, str]]:
    """Each layer that holds weights or statistics: its name, class and settings."""
    return [
        (name, type(sub).__name__, sub.extra_repr())
        for name, sub in m.named_modules()
        if next(sub.children(), None) is None
        and any(t is not None for t in (*sub._parameters.values(), *sub._buffers.values()))
    ]


def composite_spec(
    m: nn.Module, input_shape: tuple[int, ...], proven: dict | None = None
) -> Spec | None:
    """The composite block ``m`` computes exactly, for a ``(C, H, W)`` input, or None.
    ``proven``: what earlier modules of one import showed. A module of the same class with
    the same layers and settings computes the same function as one already compared (its
    weights differ, its code does not), so ResNet-152's 50 blocks are compared as 8."""
    reader = _reader(m)
    if reader is None:
        return None
    try:
        type_id, params = reader(m)
        block = REGISTRY.get(type_id)
        params = block.validate(params)
        block.infer(params, [input_shape])
    except Exception:  # an attribute missing, a value out of range, a shape refused
        return None
    key = (type(m), type_id, tuple(params.items()), input_shape[0], tuple(_layers(m)))
    if proven is not None and key in proven:
        return (type_id, params) if proven[key] else None
    try:
        with torch.device("meta"):  # no initialisation: it gets the module's own weights
            ours = block.build(params, [input_shape])
    except Exception:
        return None
    same = same_module(ours, m, input_shape)
    if proven is not None:
        proven[key] = same
    return (type_id, params) if same else None


def same_module(ours: nn.Module, m: nn.Module, input_shape: tuple[int, ...]) -> bool:
    """Whether ``ours`` computes what ``m`` computes: the same weight layers with the same
    settings, and, with ``m``'s weights loaded, the same output (eval mode) for a random
    input of ``input_shape`` (C, H, W)."""
    if _layers(ours) != _layers(m):
        return False
    state = m.state_dict()
    if list(ours.state_dict()) != list(state):
        return False
    # the candidate's own tensors (a meta-built module takes them as they are; nothing is
    # written to them: both run without gradients, in eval mode)
    ours.load_state_dict(state, strict=True, assign=True)
    if any(t.is_meta for t in (*ours.parameters(), *ours.buffers())):
        return False  # a tensor the state dict does not hold (none of our blocks has one)
    was_training = m.training
    m.eval()
    ours.eval()
    # at most 8×8 (the same layers compute alike at any size; ResNet-152's 50 blocks at their
    # traced size were most of its import), at the full size when a module needs it
    small = (*input_shape[:-2], *(min(d, 8) for d in input_shape[-2:]))
    try:
        for shape in dict.fromkeys((small, tuple(input_shape))):
            x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
            try:
                with torch.no_grad():
                    return bool(torch.allclose(ours(x), m(x), rtol=1e-5, atol=1e-6))
            except Exception:
                continue
        return False
    finally:
        m.train(was_training)
