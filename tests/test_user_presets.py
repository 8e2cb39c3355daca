"""User presets: saved in the user's config folder, listed beside the built-in ones."""

from __future__ import annotations

import pytest

import presets
from app.cli import main
from app.core.serialization import Project, save
from presets.user import UserPresetError, save_user_preset
from tests.helpers import chain, image


@pytest.fixture(autouse=True)
def preset_dir(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    monkeypatch.setenv("NETBUILDER_PRESET_DIR", str(folder))
    return folder


def small_project() -> Project:
    g = chain(
        image(1, 8, 8),
        ("conv2d", {"out_channels": 4}),
        ("global_avgpool", {}),
        ("linear", {"out_features": 3}),
    )
    return Project(g, "Tiny net", description="Three layers.")


def test_save_list_and_open(preset_dir):
    path = save_user_preset(small_project(), "tiny")
    assert path == preset_dir / "tiny.json"
    found, problems = presets.all_presets()
    assert problems == []
    mine = found[-1]
    assert (mine.name, mine.title, mine.description, mine.input, mine.tags) == (
        "tiny",
        "Tiny net",
        "Three layers.",
        "1×8×8",
        ("user",),
    )
    assert presets.get("tiny").build() == small_project().graph


def test_refuses_bad_names_builtins_and_broken_designs():
    with pytest.raises(UserPresetError, match="lower-case"):
        save_user_preset(small_project(), "My Net")
    with pytest.raises(UserPresetError, match="built-in"):
        save_user_preset(small_project(), "resnet18")
    broken = Project(chain(image(3, 2, 2), ("conv2d", {"kernel_h": 5, "kernel_w": 5})))
    with pytest.raises(UserPresetError, match="1 error"):
        save_user_preset(broken, "broken")


def test_corrupt_user_file_is_skipped_with_a_reason(preset_dir):
    save_user_preset(small_project(), "tiny")
    (preset_dir / "junk.json").write_text("{not json")
    found, problems = presets.all_presets()
    assert [p.name for p in found][-1] == "tiny"
    assert len(problems) == 1 and "junk.json" in problems[0] and "not valid JSON" in problems[0]


def test_cli_save_list_and_check(tmp_path, capsys):
    source = tmp_path / "mine.json"
    save(small_project(), source)
    assert main(["presets", "--save", str(source), "--name", "tiny"]) == 0
    assert "presets:tiny" in capsys.readouterr().out
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "Tiny net" in out and "user" in out
    assert main(["check", "presets:tiny"]) == 0
    assert main(["presets", "--save", str(source)]) == 2
    assert "--name" in capsys.readouterr().err
