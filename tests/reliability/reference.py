"""The composite blocks rebuilt from their papers' recipes with plain ``torch.nn`` layers,
independent of ``blocks/modules``, so the shape oracle's torch side does not share code (or
mistakes) with the modules the compiler uses.

Each function takes the block's params and input channels and returns a module; only shapes
matter here (the weights are random)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Lambda(nn.Module):
    """A forward written as a function of submodules held in ``parts``."""

    def __init__(self, fn: Callable[..., torch.Tensor], **parts: nn.Module) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.parts, *xs)


def _cbr(cin: int, cout: int, k: int, s: int = 1, p: int = 0, bn: bool = True, eps=1e-5):
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, p, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout, eps=eps))
    return nn.Sequential(*layers, nn.ReLU())


def conv_bn_relu(p: dict, cin: int) -> nn.Module:
    return _cbr(
        cin, p["out_channels"], p["kernel_size"], p["stride"], p["padding"], p["batch_norm"],
        p["bn_eps"],
    )  # fmt: skip


def squeeze_excite(p: dict, cin: int) -> nn.Module:
    return _se(cin, max(1, cin // p["reduction"]))


def _se(c: int, squeezed: int) -> nn.Module:
    gate = nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Conv2d(c, squeezed, 1),
        nn.ReLU(),
        nn.Conv2d(squeezed, c, 1),
        nn.Sigmoid(),
    )
    return Lambda(lambda m, x: x * m["gate"](x), gate=gate)


def residual(p: dict, cin: int) -> nn.Module:
    """He et al. 2016 (v1, v1.5 as torchvision, v2 pre-activation); ResNeXt width."""
    ch, s, pre = p["channels"], p["stride"], p["version"] == "v2"
    if p["kind"] == "basic":
        if p["groups"] != 1 or p["base_width"] != 64:
            raise ValueError("the basic block has no groups or base width")
        cout = ch
        convs = [(cin, ch, 3, s, 1, 1), (ch, ch, 3, 1, 1, 1)]
    else:
        width = int(ch * p["base_width"] / 64) * p["groups"]
        cout = 4 * ch
        s1, s3 = (s, 1) if p["version"] == "v1" else (1, s)
        convs = [(cin, width, 1, s1, 0, 1), (width, width, 3, s3, 1, p["groups"]),
                 (width, cout, 1, 1, 0, 1)]  # fmt: skip
    branch: list[nn.Module] = []
    for i, (a, b, k, stride, pad, g) in enumerate(convs):
        if pre:
            branch += [nn.BatchNorm2d(a), nn.ReLU()]
        branch.append(nn.Conv2d(a, b, k, stride, pad, groups=g, bias=False))
        if not pre:
            branch.append(nn.BatchNorm2d(b))
            if i < len(convs) - 1:
                branch.append(nn.ReLU())
    if p["se_reduction"]:
        branch.append(_se(cout, max(1, cout // p["se_reduction"])))
    project = s != 1 or cin != cout
    shortcut: nn.Module = nn.Identity()
    if project:
        conv = nn.Conv2d(cin, cout, 1, s, bias=False)
        shortcut = nn.Sequential(conv) if pre else nn.Sequential(conv, nn.BatchNorm2d(cout))
    body = nn.Sequential(*branch)
    if pre:  # the projection reads the pre-activated input
        first = nn.Sequential(body[0], body[1])
        rest = nn.Sequential(*list(body)[2:])

        def forward_v2(m, x):
            a = m["first"](x)
            return m["rest"](a) + (m["shortcut"](a) if project else x)

        return Lambda(forward_v2, first=first, rest=rest, shortcut=shortcut)
    return Lambda(lambda m, x: torch.relu(m["body"](x) + m["shortcut"](x)), body=body,
                  shortcut=shortcut)  # fmt: skip


def inception(p: dict, cin: int) -> nn.Module:
    """Szegedy et al. 2015: four branches concatenated along channels."""
    bn, k = p["batch_norm"], p["kernel"]
    branches = nn.ModuleList(
        [
            _cbr(cin, p["ch1x1"], 1, bn=bn),
            nn.Sequential(_cbr(cin, p["ch3x3red"], 1, bn=bn),
                          _cbr(p["ch3x3red"], p["ch3x3"], 3, p=1, bn=bn)),
            nn.Sequential(_cbr(cin, p["ch5x5red"], 1, bn=bn),
                          _cbr(p["ch5x5red"], p["ch5x5"], k, p=k // 2, bn=bn)),
            nn.Sequential(nn.MaxPool2d(3, 1, 1), _cbr(cin, p["pool_proj"], 1, bn=bn)),
        ]
    )  # fmt: skip
    return Lambda(lambda m, x: torch.cat([b(x) for b in m["b"]], 1), b=branches)


def fire(p: dict, cin: int) -> nn.Module:
    """Iandola et al. 2016: squeeze 1×1, expand 1×1 and 3×3, concatenated."""
    squeeze = nn.Sequential(nn.Conv2d(cin, p["squeeze"], 1), nn.ReLU())
    e1 = nn.Sequential(nn.Conv2d(p["squeeze"], p["expand1x1"], 1), nn.ReLU())
    e3 = nn.Sequential(nn.Conv2d(p["squeeze"], p["expand3x3"], 3, padding=1), nn.ReLU())

    def forward(m, x):
        s = m["squeeze"](x)
        return torch.cat([m["e1"](s), m["e3"](s)], 1)

    return Lambda(forward, squeeze=squeeze, e1=e1, e3=e3)


def nin_block(p: dict, cin: int) -> nn.Module:
    """Lin et al. 2013: a k×k conv, then two 1×1 convs, each with ReLU."""
    c = p["channels"]
    mid, out = p["mid_channels"] or c, p["out_channels"] or c
    return nn.Sequential(
        nn.Conv2d(cin, c, p["kernel_size"], p["stride"], p["padding"]),
        nn.ReLU(),
        nn.Conv2d(c, mid, 1),
        nn.ReLU(),
        nn.Conv2d(mid, out, 1),
        nn.ReLU(),
    )


def dense_layer(p: dict, cin: int) -> nn.Module:
    """Huang et al. 2017: BN-ReLU-1×1 (bn_size·k), BN-ReLU-3×3 (k), concatenated to x."""
    width = p["bn_size"] * p["growth_rate"]
    new = nn.Sequential(
        nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, width, 1, bias=False),
        nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, p["growth_rate"], 3, 1, 1, bias=False),
    )  # fmt: skip
    return Lambda(lambda m, x: torch.cat([x, m["new"](x)], 1), new=new)


def inverted_residual(p: dict, cin: int) -> nn.Module:
    """Sandler et al. 2018: expand 1×1, depthwise 3×3, linear 1×1; + x when shapes agree."""
    hid, out, s = cin * p["expand_ratio"], p["out_channels"], p["stride"]
    body = [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6()]
    body = body if p["expand_ratio"] != 1 else []
    body += [
        nn.Conv2d(hid, hid, 3, s, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(),
        nn.Conv2d(hid, out, 1, bias=False), nn.BatchNorm2d(out),
    ]  # fmt: skip
    residual = s == 1 and cin == out
    return Lambda(lambda m, x: m["f"](x) + x if residual else m["f"](x), f=nn.Sequential(*body))


REFERENCE: dict[str, Callable[[dict, int], nn.Module]] = {
    "conv_bn_relu": conv_bn_relu,
    "squeeze_excite": squeeze_excite,
    "residual": residual,
    "inception": inception,
    "fire": fire,
    "nin_block": nin_block,
    "dense_layer": dense_layer,
    "inverted_residual": inverted_residual,
}
