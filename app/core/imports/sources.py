"""Where an imported model comes from: a torchvision name, a class or factory in a Python file,
or a file NetBuilder exported. Loading a ``.py`` runs its code, as importing it would; errors
raised by that code are reported with the file's own traceback lines only.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

from app.core.imports.errors import ImportFailure


def parse_args(text: str | None) -> tuple[list[Any], dict[str, Any]]:
    """``--args`` JSON: an object (keyword arguments), a list (positional) or nothing."""
    if not text:
        return [], {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailure(f"--args is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        return [], value
    if isinstance(value, list):
        return value, {}
    raise ImportFailure(f"--args must be a JSON object or list, got {type(value).__name__}")


def load_source(spec: str, args: str | None = None) -> tuple[Any, str]:
    """The ``nn.Module`` named by ``spec`` and a short name for it.

    ``torchvision:NAME`` (a classification model, built without weights: no download),
    ``path/file.py:Name`` (a class or a factory function, called with ``args``), or
    ``path/file.py`` (the file's last ``nn.Module`` class, as in a file NetBuilder exported).
    """
    from torch import nn

    positional, keywords = parse_args(args)
    if spec.startswith("torchvision:"):
        return _torchvision(spec.removeprefix("torchvision:"), keywords), spec.split(":", 1)[1]
    path_text, attr = spec, ""
    if ":" in spec[2:]:  # a drive letter's colon (C:\\…) is not a separator
        path_text, _, attr = spec.rpartition(":")
    path = Path(path_text)
    if path.suffix != ".py":
        raise ImportFailure(
            f"{spec!r}: expected torchvision:NAME, FILE.py, FILE.py:Class or FILE.py:factory"
        )
    if not path.is_file():
        raise ImportFailure(f"{path}: no such file")
    module = _run_file(path)
    if not attr:
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, nn.Module)
            and obj.__module__ == module.__name__
        ]
        if not classes:
            raise ImportFailure(f"{path}: defines no nn.Module class; name one as FILE.py:Name")
        attr = classes[-1].__name__  # an exported file defines its network last
    target = getattr(module, attr, None)
    if target is None:
        raise ImportFailure(f"{path}: has no {attr!r}")
    if not callable(target):
        raise ImportFailure(f"{path}:{attr} is a {type(target).__name__}, not a class or factory")
    try:
        model = target(*positional, **keywords)
    except Exception as exc:
        raise ImportFailure(_user_error(f"{path}:{attr}(…) failed", exc, path)) from None
    if not isinstance(model, nn.Module):
        raise ImportFailure(
            f"{path}:{attr} gave a {type(model).__name__}, not a torch.nn.Module: name the "
            "network's class or a function that returns one"
        )
    return model, attr


def _torchvision(name: str, keywords: dict[str, Any]) -> Any:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        close = [n for n in names if name.lower()[:4] in n][:8]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise ImportFailure(f"torchvision has no classification model {name!r}{hint}")
    try:  # weights=None: the architecture only, nothing is downloaded
        return torchvision.models.get_model(name, weights=None, **keywords)
    except TypeError as exc:
        raise ImportFailure(f"torchvision:{name}: {exc}") from None


def _run_file(path: Path) -> Any:
    name = f"netbuilder_import_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportFailure(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise ImportFailure(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ImportFailure(_user_error(f"{path}: running the file failed", exc, path)) from None
    return module


def _user_error(head: str, exc: BaseException, path: Path) -> str:
    """``head``, the traceback lines that are in the user's file, and the exception."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path.resolve()
    ] or [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    lines = [f"{head}:"]
    lines += [f"  {f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}" for f in frames]
    lines.append(f"  {type(exc).__name__}: {exc}")
    return "\n".join(lines)
