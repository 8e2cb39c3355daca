"""User strings that reach generated Python (project names, the image-folder path) cannot add
statements: every exported file parses, its AST holds only what NetBuilder writes, and the
model it defines runs."""

from __future__ import annotations

import ast

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import presets
from app.core.export.model_code import class_name, export_model_code, module_definitions
from app.core.export.train_script import training_script
from app.core.names import RESERVED_CLASS_NAMES
from app.core.serialization import Project
from app.core.training.config import TrainConfig

HOSTILE_NAMES = [
    '"""',
    '"""\nimport os\nos.system("echo pwned")\n"""',
    "'''",
    '\\"""; import os #',
    "x\\",
    '"',
    "None",
    "True",
    "False",
    "class",
    "Fire",
    "ConvUnit",
    "Inception",
    "ResidualBlock",
    "SqueezeExcite",
    "LR",
    "SEED",
    "L1",
    "ValueError",
    "print",
    "\ud800 lone surrogate",
    "\n\n",
    "a" * 500,
    "0123",
    "",
    "ＬｅＮｅｔ",
    "名前",
]


def lenet():
    return presets.get("lenet5").build()


def assert_only_netbuilder_statements(source: str, cls: str) -> None:
    tree = ast.parse(source)
    body = tree.body
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    assert ast.unparse(body[1]) == "import torch"
    assert ast.unparse(body[2]) == "from torch import nn"
    defs = module_definitions()
    for stmt in body[3:-2]:  # the composite classes, copied verbatim from blocks.modules
        assert isinstance(stmt, ast.ClassDef | ast.FunctionDef) and stmt.name in defs
        assert ast.dump(stmt) == ast.dump(ast.parse(defs[stmt.name][0]).body[0])
    main = body[-2]
    assert isinstance(main, ast.ClassDef) and main.name == cls
    assert [f.name for f in main.body] == ["__init__", "forward"]  # type: ignore[attr-defined]
    init, forward = main.body
    assert ast.unparse(init.body[0]) == "super().__init__()"  # type: ignore[attr-defined]
    for stmt in init.body[1:]:  # type: ignore[attr-defined]
        assert isinstance(stmt, ast.Assign) and ast.unparse(stmt.targets[0]).startswith("self.")
    for stmt in forward.body[:-1]:  # type: ignore[attr-defined]
        assert isinstance(stmt, ast.Assign)
    assert isinstance(forward.body[-1], ast.Return)  # type: ignore[attr-defined]
    assert ast.unparse(body[-1].test) == "__name__ == '__main__'"  # type: ignore[attr-defined]


def check_model_code(name: str) -> None:
    cls = class_name(name)
    assert (
        cls.isidentifier() and cls not in RESERVED_CLASS_NAMES and cls not in module_definitions()
    )
    source = export_model_code(lenet(), name)
    source.encode("utf-8")  # writable
    assert_only_netbuilder_statements(source, cls)
    scope: dict = {"__name__": "model"}
    exec(compile(source, "model.py", "exec"), scope)
    out = scope[cls]()(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_project_names_give_valid_code(name):
    check_model_code(name)


def test_composite_class_names_are_not_taken():
    graph = presets.get("squeezenet_cifar").build()
    source = export_model_code(graph, "Fire")
    tree = ast.parse(source)
    classes = [s.name for s in tree.body if isinstance(s, ast.ClassDef)]
    assert classes.count("Fire") == 1 and classes[-1] == "FireNet"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_any_text_as_a_name_gives_valid_code(name):
    check_model_code(name)


def train_script(name: str, **training) -> str:
    config = TrainConfig.from_dict(training)
    return training_script(Project(lenet(), name, training=config.to_dict()), config)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_in_the_training_script(name):
    source = train_script(name, dataset="shapes_gray")
    tree = ast.parse(source)
    assert isinstance(tree.body[0], ast.Expr)
    imported = [s for s in tree.body if isinstance(s, ast.ImportFrom) and s.module == "model"]
    assert [a.name for a in imported[0].names] == [class_name(name)]


@pytest.mark.parametrize(
    "folder",
    ['"); import os; os.system("echo pwned"); ("', "C:\\data\\new", "a'b\"c", "\n", "dé/jà"],
)
def test_image_folder_path_is_one_string_constant(folder):
    source = train_script("Net", dataset="image_folder", data_dir=folder)
    tree = ast.parse(source)
    joins = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "os.path.join"
    ]
    assert len(joins) == 1
    assert isinstance(joins[0].args[0], ast.Constant) and joins[0].args[0].value == folder
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "os.system" not in calls


def test_reserved_class_names_cover_the_training_script():
    """A class named like one of train.py's top-level names would be overwritten by it."""
    source = train_script(
        "Net", dataset="shapes_gray", mixup_alpha=0.2, l1=1e-4, schedule="inverse_sqrt"
    )
    tree = ast.parse(source)
    names = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            names |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
        elif isinstance(stmt, ast.FunctionDef | ast.ClassDef):
            names.add(stmt.name)
    capitalised = {n for n in names if n[0].isupper()}  # class_name always starts upper-case
    assert capitalised and capitalised <= RESERVED_CLASS_NAMES, capitalised - RESERVED_CLASS_NAMES
