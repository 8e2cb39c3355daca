"""A user's own model: imported from its file, trained from the CLI starting from the
imported weights, exported, and imported again; and every kind of bad input, with a message."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from app.cli import main
from app.core.imports.errors import ImportFailure
from app.core.imports.fx_map import import_model
from app.core.imports.sources import load_source
from app.core.serialization import load

HERE = Path(__file__).parent
FILE = HERE / "user_models.py"


def test_a_custom_block_with_a_sum_and_a_concatenation_imports_natively():
    model, name = load_source(f"{FILE}:TinyNet")
    assert name == "TinyNet"
    result = import_model(model, (3, 32, 32))
    types = sorted(n.type_id for n in result.graph.nodes.values())
    assert types.count("concat") == 2 and types.count("add") == 2
    assert "global_avgpool" in types  # x.mean([2, 3])
    paths = {n.path for n in result.graph.nodes.values()}
    assert {"stem.0", "blocks.0.left", "blocks.0.right", "blocks.2.bn"} <= paths
    assert result.graph.nodes["head"].type_id == "linear"  # top level: named by its id
    assert set(result.state) == set(model.state_dict())
    assert result.max_abs_diff <= 1e-5


def test_a_class_named_like_a_block_that_computes_otherwise_is_traced_through():
    """``ResidualBlock`` with NetBuilder's layers but no ReLU after the sum: not taken for
    the block (its output differs), imported layer by layer instead, with equal logits."""
    from tests.imports.user_models import LookAlike

    result = import_model(LookAlike(), (3, 8, 8))
    types = [n.type_id for n in result.graph.nodes.values()]
    assert "residual" not in types and types.count("add") == 1
    assert result.graph.nodes["block_conv1"].path == "block.conv1"
    assert result.max_abs_diff <= 1e-5


def test_a_factory_is_called_with_the_arguments():
    model, _ = load_source(f"{FILE}:tiny_net", '{"width": 4}')
    assert model.head.in_features == 4
    model, _ = load_source(f"{FILE}:TinyNet", "[5, 6]")
    assert (model.head.out_features, model.head.in_features) == (5, 6)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_train_from_the_imported_weights_export_and_import_again(tmp_path, capsys):
    net = tmp_path / "net.json"
    code, out, err = run_cli(
        capsys, "import", f"{FILE}:TinyNet", "-o", str(net), "--input", "3,32,32"
    )
    assert code == 0, err
    assert "17 nodes, all 17 onto NetBuilder blocks, no opaque node" in out
    assert "max |difference| 0.00e+00" in out
    project = load(net)
    assert project.training == {"weights": "net.pt"}  # beside the project, relative
    imported = torch.load(tmp_path / "net.pt", weights_only=True)
    assert set(imported) == set(load_source(f"{FILE}:TinyNet")[0].state_dict())

    # a run starts from the imported weights: at a learning rate of 1e-8 they stay as they were
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        capsys, "train", str(net), "--dataset", "shapes", "--epochs", "1", "--train-size",
        "256", "--val-size", "64", "--batch-size", "32", "--lr", "1e-8", "--runs", str(runs),
    )  # fmt: skip
    assert code == 0, err
    (run,) = runs.iterdir()
    assert run.name.endswith("-net")  # named after the project file
    assert f"from the weights in {tmp_path / 'net.pt'}" in (run / "run.log").read_text()
    rows = list(csv.DictReader((run / "epochs.csv").read_text().splitlines()))
    assert len(rows) == 1
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    best = best.get("model", best)
    for key, value in imported.items():
        if key.endswith(".weight") and "bn" not in key:
            torch.testing.assert_close(best[key], value, msg=key)
    # and learns from them with the default settings
    code, out, err = run_cli(
        capsys, "train", str(net), "--dataset", "shapes", "--epochs", "2", "--train-size",
        "512", "--val-size", "64", "--batch-size", "32", "--runs", str(runs),
    )  # fmt: skip
    assert code == 0, err

    # exported code imports again to the same graph and weights
    code_file = tmp_path / "model.py"
    code, out, err = run_cli(capsys, "export", str(net), "-o", str(code_file))
    assert code == 0, err
    again = tmp_path / "again.json"
    code, out, err = run_cli(
        capsys, "import", str(code_file), "-o", str(again), "--input", "3,32,32", "--weights",
        str(tmp_path / "net.pt"),
    )  # fmt: skip
    assert code == 0, err  # the weights' keys are the exported code's: they load by name
    second = load(again)
    assert second.graph == project.graph
    weights = torch.load(tmp_path / "again.pt", weights_only=True)
    assert list(weights) == list(imported)
    for key, value in imported.items():
        assert torch.equal(weights[key], value), key
    # and exporting that again writes the same file, byte for byte
    code, out, err = run_cli(capsys, "export", str(again), "-o", str(tmp_path / "model2.py"))
    assert code == 0, err
    assert (tmp_path / "model2.py").read_bytes() == code_file.read_bytes()


def test_weights_for_the_source_model_load_by_name_or_are_refused(tmp_path, capsys):
    model = load_source(f"{FILE}:TinyNet")[0]
    torch.nn.init.constant_(model.head.weight, 0.25)
    good = tmp_path / "good.pt"
    torch.save(model.state_dict(), good)
    code, _, err = run_cli(
        capsys, "import", f"{FILE}:TinyNet", "-o", str(tmp_path / "a.json"), "--weights",
        str(good), "--input", "3,32,32",
    )  # fmt: skip
    assert code == 0, err
    assert torch.load(tmp_path / "a.pt", weights_only=True)["head.weight"].eq(0.25).all()
    state = model.state_dict()
    state["extra.weight"] = state.pop("head.weight")
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    code, _, err = run_cli(
        capsys, "import", f"{FILE}:TinyNet", "-o", str(tmp_path / "b.json"), "--weights",
        str(bad), "--input", "3,32,32",
    )  # fmt: skip
    assert code == 1
    fit = "does not fit the model by name: 1 missing (head.weight); 1 unexpected (extra.weight)"
    assert fit in err
    assert not (tmp_path / "b.json").exists() and not (tmp_path / "b.pt").exists()


@pytest.mark.parametrize(
    ("spec", "args", "expected"),
    [
        (
            ":Untraceable",
            None,
            r"user_models\.py:\d+: torch\.fx cannot trace Untraceable \(if x\.sum\(\) > 0:"
            r".*: make it depend on sizes",
        ),
        (
            ":UntraceableInside",
            None,
            r"user_models\.py:\d+: torch\.fx cannot trace UntraceableInside in gate\.1 "
            r"\(Untraceable\) \(if x\.sum\(\) > 0:",
        ),
        (":Broken", None, r"user_models\.py:\d+ in __init__: self\.conv = nn\.Conv2d"),
        (":not_a_model", None, r"not_a_model gave a dict, not a torch\.nn\.Module"),
        (":Missing", None, r"has no 'Missing'"),
        (":TinyNet", "{bad json", r"--args is not valid JSON"),
        (":TinyNet", '{"depth": 3}', r"(?s)TinyNet\(…\) failed.*keyword argument 'depth'"),
    ],
)
def test_bad_sources_say_what_is_wrong(spec, args, expected):
    with pytest.raises(ImportFailure, match=expected) as info:
        model, _ = load_source(f"{FILE}{spec}", args)
        import_model(model, (3, 32, 32))
    text = str(info.value)
    assert "site-packages" not in text and "/torch/" not in text  # the user's lines only


def test_unknown_sources_and_shapes(tmp_path, capsys):
    out = str(tmp_path / "x.json")
    code, _, err = run_cli(capsys, "import", "torchvision:resnet19", "-o", out)
    assert code == 1 and "torchvision has no classification model 'resnet19'" in err
    assert "resnet18" in err  # close names are suggested
    code, _, err = run_cli(capsys, "import", str(tmp_path / "none.py"), "-o", out)
    assert code == 1 and "no such file" in err
    code, _, err = run_cli(capsys, "import", f"{FILE}:TinyNet", "-o", out, "--input", "3,32")
    assert code == 2 and "--input must be C,H,W" in err
    code, _, err = run_cli(capsys, "import", f"{FILE}:TinyNet", "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "-o must name a .json project file" in err
    # a model that does not run on the given input says so
    code, _, err = run_cli(capsys, "import", f"{FILE}:TinyNet", "-o", out, "--input", "1,32,32")
    assert code == 1 and "does not run on a 1×32×32 input" in err
    assert not Path(out).exists()
    assert json.loads("{}") == {}
