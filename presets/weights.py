"""Map torchvision ``state_dict``s onto compiled presets.

Presets are built layer for layer in torchvision's order, and composite blocks register their
submodules in torchvision's order, so the two state dicts pair up entry by entry. Every pair must
agree in tensor kind (weight, bias, running_mean...) and shape; anything else is refused with a
message naming both keys. Needs no torchvision import: pass any state dict (e.g. one loaded from
a ``.pth`` file on disk).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

#: torchvision entries with no counterpart in the presets (GoogLeNet's auxiliary classifiers)
SKIPPED_PREFIXES = ("aux1.", "aux2.")


class WeightMappingError(ValueError):
    """The state dict does not fit the model; the message names the first mismatch."""


def map_state_dict(source: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Return ``source``'s tensors under ``model``'s state-dict keys (pairing in order)."""
    src = [(k, v) for k, v in source.items() if not k.startswith(SKIPPED_PREFIXES)]
    dst = list(model.state_dict().items())
    if len(src) != len(dst):
        raise WeightMappingError(
            f"the weights have {len(src)} tensors but the model has {len(dst)}: "
            "they are not the same architecture"
        )
    out: dict[str, torch.Tensor] = {}
    for (sk, sv), (dk, dv) in zip(src, dst, strict=True):
        if sk.rsplit(".", 1)[-1] != dk.rsplit(".", 1)[-1] or sv.shape != dv.shape:
            raise WeightMappingError(
                f"{sk} {tuple(sv.shape)} does not fit {dk} {tuple(dv.shape)}: "
                "the architectures differ at this layer"
            )
        out[dk] = sv
    return out


def load_mapped(model: nn.Module, source: Mapping[str, torch.Tensor]) -> None:
    """Load ``source`` (e.g. torchvision weights) into ``model`` with ``strict=True``."""
    model.load_state_dict(map_state_dict(source, model), strict=True)
