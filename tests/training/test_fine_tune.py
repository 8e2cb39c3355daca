"""Fine-tuning plans (torch-free): a network's parts, "train the last N parts", "freeze
everything up to here", and the whole set-up for an image folder."""

from __future__ import annotations

import presets
from app.core.graph import Learning
from app.core.shapes import check
from app.core.training.config import TrainConfig
from app.core.training.fine_tune import (
    describe_learning,
    freeze_up_to,
    parts,
    plan,
    train_last,
)

RESNET18 = "ResNet18_Weights.IMAGENET1K_V1"


def test_a_network_is_cut_into_its_stages_and_the_head():
    got = [(p.name, p.params) for p in parts(presets.get("resnet18").build())]
    assert got == [
        ("conv1", 9536),  # the stem: conv1 with its BatchNorm, ReLU and max-pool
        ("layer1", 147968),
        ("layer2", 525568),
        ("layer3", 2099712),
        ("layer4", 8393728),
        ("fc", 513000),
    ]
    assert sum(p for _, p in got) == 11_689_512
    names = [p.name for p in parts(presets.get("mobilenet_v2").build())]
    assert names == ["features", "classifier.1"]  # the dropout joins the head
    names = [p.name for p in parts(presets.get("lenet5").build())]
    assert names == ["conv2d_1", "conv2d_2", "linear_1", "linear_2", "linear_3"]


def test_training_the_last_parts_freezes_the_rest_and_slows_the_backbone():
    g = presets.get("resnet18").build()
    changes = train_last(g, 2, backbone_mult=0.1)
    for nid, value in changes.items():
        g.set_learning(nid, value)
    frozen = {g.node(n).path for n in g.frozen()}
    assert {"conv1", "bn1", "layer1.0", "layer3.1"} <= frozen
    assert not any(p.startswith(("layer4", "fc")) for p in frozen)
    assert {g.node(n).learning for n in g.nodes if g.node(n).path.startswith("layer4")} == {
        Learning(True, 0.1)
    }
    fc = next(n for n in g.nodes if g.node(n).path == "fc")
    assert g.node(fc).learning == Learning()
    assert train_last(g, 2, backbone_mult=0.1) == {}  # nothing left to change
    assert describe_learning(g) == (
        "2,782,784 of 11,689,512 parameters frozen (8 layers); 8,906,728 train"
    )
    everything = train_last(g, 99)
    assert all(v == Learning() for v in everything.values()) and set(everything) >= g.frozen()


def test_freeze_up_to_here_freezes_what_the_node_depends_on_and_frees_the_rest():
    g = presets.get("lenet5").build()
    g.set_learning("linear_3", Learning(trainable=False, lr_mult=2.0))
    changes = freeze_up_to(g, "conv2d_2")
    for nid, value in changes.items():
        g.set_learning(nid, value)
    assert g.frozen() == {"input_1", "conv2d_1", "conv2d_2"} | {n for n in g.upstream("conv2d_2")}
    assert g.node("linear_3").learning == Learning(True, 2.0)  # unfrozen, multiplier kept
    assert "linear_1" not in g.frozen()


def test_a_fine_tuning_plan_sets_input_head_freezing_and_settings():
    g = presets.get("resnet18").build()
    before = g.copy()
    p = plan(g, weights=RESNET18, folder="/data/flowers", classes=5, train_parts=1)
    assert g == before  # the document's graph is left alone: the plan has a copy
    report = check(p.graph)
    assert report.ok and report.output_shape == (5,)
    assert report.nodes[report.input_id].shape == (3, 224, 224)
    assert {p.graph.node(n).path for n in p.graph.frozen() if report.nodes[n].params} >= {
        "conv1",
        "layer4.1",
    }
    config = TrainConfig.from_dict(p.settings)
    assert (config.dataset, config.data_dir, config.pretrained) == (
        "image_folder",
        "/data/flowers",
        RESNET18,
    )
    text = "\n".join(p.changes)
    assert "fc: out_features set to 5" in text
    assert "frozen: 5 of 6 parts (up to layer4); training fc" in text
    assert "11,176,512 of 11,179,077 parameters frozen" in text
    assert "centre crop 224" in text


def test_train_last_from_the_command_line_freezes_the_rest(tmp_path, capsys):
    from app.cli import main

    args = ["train", "presets:lenet5", "--dataset", "shapes_gray", "--train-size", "64"]
    args += ["--val-size", "16", "--epochs", "1", "--runs", str(tmp_path), "--train-last", "2"]
    assert main([*args, "--backbone-lr", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "50,692 of 61,706 parameters frozen (3 layers); 11,014 train" in out
    assert "50,692 parameters frozen in 3 layers" in out  # the run's own start note
