"""Reading ``.pt`` files (weights, checkpoints, snapshots) that may come from elsewhere.

A ``.pt`` file is a pickle, and unpickling can run any code the file names. Every load in
NetBuilder goes through :func:`load_tensors`, which uses ``torch.load(weights_only=True)``:
tensors, containers and plain values load, anything else is refused before it can run.
NetBuilder's own checkpoints hold only such values, so they load the same way.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from typing import Any

__all__ = ["WeightsFileError", "load_tensors"]


class WeightsFileError(ValueError):
    """A weights or checkpoint file cannot be used. ``unsafe`` is True when it was refused
    because it holds objects other than tensors and plain values (it could run code)."""

    def __init__(self, message: str, unsafe: bool = False) -> None:
        super().__init__(message)
        self.unsafe = unsafe


def load_tensors(
    source: str | os.PathLike[str] | io.BytesIO, map_location: Any = "cpu", what: str = "weights"
) -> Any:
    """``torch.load`` restricted to tensors and plain values; raises :class:`WeightsFileError`
    with a message for the user (never runs code from the file)."""
    import torch

    name = "the data" if isinstance(source, io.BytesIO) else str(source)
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise WeightsFileError(f"{what} file not found: {name}") from None
    except IsADirectoryError:
        raise WeightsFileError(f"{name} is a folder, not a {what} file") from None
    except OSError as exc:
        raise WeightsFileError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:  # the file names a function or class to call: never run it
            raise WeightsFileError(
                f"{name} was refused: it asks to call {found.group(1)} instead of only "
                "holding tensors and plain values, so opening it could run code. NetBuilder "
                "opens weights only; if you trust its author, load it in Python and re-save "
                "it with torch.save(model.state_dict(), path)",
                unsafe=True,
            ) from None
        raise WeightsFileError(_not_weights(name, what)) from None
    except Exception:  # truncated zips, garbage bytes: torch raises assorted errors
        raise WeightsFileError(_not_weights(name, what)) from None


def _not_weights(name: str, what: str) -> str:
    return (
        f"{name} is not a PyTorch {what} file (a NetBuilder checkpoint or a state dict saved "
        "with torch.save)"
    )
