"""The rules for every user string that reaches generated Python.

Node ids become attribute names of the compiled ``GraphModule`` and of the exported class, and
local variables of its ``forward``; project names become class names and docstrings. Both come
from files that may have been written by someone else, so they are checked here, once, for the
graph, the loader, the compiler and the exporters alike.
"""

from __future__ import annotations

import builtins
import json
import keyword
import unicodedata

__all__ = [
    "GENERATED_NAMES",
    "MODULE_ATTRIBUTES",
    "RESERVED_CLASS_NAMES",
    "free_id",
    "has_surrogate",
    "module_name_clashes",
    "module_path_problem",
    "node_id_problem",
    "safe_text",
    "string_literal",
]

#: Public attributes of ``nn.Module`` and ``torch.fx.GraphModule`` (a node named ``training``
#: or ``forward`` would replace them). Kept here so the GUI process need not import torch;
#: tests/core/test_names.py fails when torch adds one that is missing.
MODULE_ATTRIBUTES = frozenset(
    [
        "T_destination",
        "add_module",
        "add_submodule",
        "append",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "code",
        "compile",
        "cpu",
        "cuda",
        "delete_all_unused_submodules",
        "delete_submodule",
        "double",
        "dump_patches",
        "eval",
        "extend",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "graph",
        "half",
        "insert",
        "ipu",
        "load_state_dict",
        "meta",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "pop",
        "print_readable",
        "recompile",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "shape_env",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "to_folder",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)

#: Names the exported file itself uses: the forward's variables and the imported modules.
GENERATED_NAMES = frozenset({"self", "x", "out", "torch", "nn", "math", "super"})


#: Top-level names a class exported from a project name must not take: keywords and builtins
#: (``None``, ``True``, ``ValueError``) and the training script's constants (``LR``, ``SEED``);
#: the composite classes are added by the exporter. tests/export/test_hostile_names.py parses
#: a generated train.py and fails when one of its names is missing here.
RESERVED_CLASS_NAMES = (
    frozenset(keyword.kwlist)
    | frozenset(dir(builtins))
    | frozenset(
        {
            "AMP",
            "BATCH_SIZE",
            "CHANNELS_LAST",
            "CLASSES",
            "DATA_DIR",
            "EPOCHS",
            "GRAD_CLIP",
            "INPUT_SHAPE",
            "L1",
            "LABEL_SMOOTHING",
            "LR",
            "NUM_CLASSES",
            "SEED",
            "WEIGHT_DECAY",
            "WEIGHTS",
        }
    )
)


def node_id_problem(node_id: object) -> str | None:
    """Why ``node_id`` cannot name a node (None when it can)."""
    if not isinstance(node_id, str) or not node_id.isidentifier():
        return f"node id {node_id!r} is not a valid Python identifier (letters, digits, _)"
    if keyword.iskeyword(node_id):
        return f"node id {node_id!r} is a Python keyword"
    if unicodedata.normalize("NFKC", node_id) != node_id:
        return (
            f"node id {node_id!r} changes under Unicode normalisation (Python reads it as "
            f"{unicodedata.normalize('NFKC', node_id)!r})"
        )
    if node_id.startswith("_"):
        return f"node id {node_id!r} starts with '_' (reserved for PyTorch's internals)"
    if node_id in MODULE_ATTRIBUTES:
        return f"node id {node_id!r} is the name of an nn.Module attribute"
    if node_id in GENERATED_NAMES:
        return f"node id {node_id!r} is a name the generated code uses"
    return None


def module_path_problem(path: object) -> str | None:
    """Why ``path`` cannot be a node's module path (None when it can): dot-separated parts,
    ``layer1.0.conv1``; the first a name (as a node id) or a number, the others any printable
    text (``block1-0``, a member reached by key) but an ``nn.Module`` attribute or ``_…``."""
    if not isinstance(path, str) or not path:
        return f"module path {path!r} is empty or not text"
    first, *rest = path.split(".")
    problem = None if first.isascii() and first.isdigit() else node_id_problem(first)
    if problem:
        return f"module path {path!r}: part " + problem.removeprefix("node id ")
    for part in rest:  # members of a group: reached by key, any text a module name may be
        if not part or not part.isprintable():
            return f"module path {path!r}: part {part!r} is empty or not printable"
        if part.startswith("_") or part in MODULE_ATTRIBUTES:
            return f"module path {path!r}: part {part!r} " + (
                "starts with '_'" if part.startswith("_") else "is an nn.Module attribute"
            )
    return None


def module_name_clashes(names: dict[str, str]) -> list[tuple[str, str]]:
    """(node id, why) for each node whose module name (its path, or its id) cannot coexist
    with another's: the same name twice, or a name that another uses as a group
    (``layer1`` beside ``layer1.0.conv1``)."""
    owner: dict[str, str] = {}
    clashes: list[tuple[str, str]] = []
    for nid, name in names.items():
        if name in owner:
            clashes.append((nid, f"{nid}: module name {name!r} is also {owner[name]}'s"))
        else:
            owner[name] = nid
    groups = {name.rsplit(".", i)[0] for name in owner for i in range(1, name.count(".") + 1)}
    for name, nid in owner.items():
        if name in groups:
            clashes.append(
                (nid, f"{nid}: module name {name!r} is also the group of other nodes' paths")
            )
    return clashes


def free_id(wanted: str, taken: set[str] | dict, fallback: str) -> str:
    """A valid, unused id close to ``wanted`` (``training`` → ``training_1``); ``fallback``
    (a type id such as ``conv2d``) when nothing close is valid."""
    base = unicodedata.normalize("NFKC", wanted) if isinstance(wanted, str) else ""
    base = "".join(ch if (ch.isalnum() or ch == "_") and ch.isascii() else "_" for ch in base)
    base = base.strip("_") or fallback
    if base[0].isdigit():
        base = f"{fallback}_{base}"
    n = 1
    while f"{base}_{n}" in taken or node_id_problem(f"{base}_{n}"):
        n += 1
    return f"{base}_{n}"


def safe_text(text: str, limit: int = 200) -> str:
    """``text`` reduced to what may stand inside a generated docstring or comment: printable
    characters only (no line breaks, no lone surrogates), no quotes or backslashes, at most
    ``limit`` characters."""
    kept = "".join(
        ch
        for ch in str(text)
        if ch.isprintable() and ch not in "\"'\\"  # lone surrogates are not printable
    )
    kept = " ".join(kept.split())
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (JSON's ``"\\ud800"``): not encodable as UTF-8."""
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def string_literal(text: str) -> str:
    """``text`` as a double-quoted Python literal (as ruff formats it); escapes make any
    content safe, and lone surrogates are escaped so the file can be written as UTF-8."""
    return json.dumps(text, ensure_ascii=has_surrogate(text))
