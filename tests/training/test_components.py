"""Engine components: config, data, augmentation, initialisation, optimizers, evaluation."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from app.core.training import augment
from app.core.training.config import ConfigError, TrainConfig, setting_groups, settings
from app.core.training.data import DatasetError, load_data
from app.core.training.init import expected_std, initialise
from app.core.training.optim import build_optimizer
from app.core.training.portable import augment_ops
from app.core.training.portable.shapes import CLASSES, make_shapes
from blocks.modules import BottleneckBlock, ResidualBlock

CPU = torch.device("cpu")


# ---------------------------------------------------------------------------- config
def test_config_fields_match_specs_and_groups():
    import dataclasses

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert names == [p.name for p in settings()]
    assert sorted(n for g in setting_groups().values() for n in g) == sorted(names)
    defaults = TrainConfig()
    for p in settings():
        assert p.validate(p.default) == getattr(defaults, p.name), p.name


def test_config_reports_every_problem_and_round_trips():
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"lr": 0, "optimizer": "lion", "colour": 1, "milestones": [0]})
    assert len(info.value.problems) == 4
    c = TrainConfig.from_dict({"lr": 0.1, "milestones": [5, 8], "hflip": True})
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert c.changed() == {"lr": 0.1, "milestones": [5, 8], "hflip": True}
    assert c.replace(lr=0.2).lr == 0.2


# ------------------------------------------------------------------------------ data
def test_shapes_are_deterministic_balanced_and_in_range():
    x1, y1 = make_shapes(300, 32, 3, seed=5)
    x2, y2 = make_shapes(300, 32, 3, seed=5)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(make_shapes(300, 32, 3, seed=6)[0], x1)
    assert x1.shape == (300, 3, 32, 32) and x1.min() >= 0 and x1.max() <= 1
    assert torch.bincount(y1).tolist() == [30] * len(CLASSES)


def test_load_builtin_data_follows_the_network_input():
    config = TrainConfig.from_dict({"dataset": "shapes_gray", "train_size": 200, "val_size": 50})
    data = load_data(config, CPU, (20, 20))
    assert data.info.shape == (1, 20, 20) and data.info.classes == CLASSES
    assert (len(data.train), len(data.val)) == (200, 50)
    batches = list(data.train.batches(64, shuffle=True, generator=torch.Generator()))
    assert [len(y) for _, y in batches] == [64, 64, 64, 8]
    assert batches[0][0].dtype == torch.uint8
    assert data.train.num_batches(64, drop_last=True) == 3


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_last", [True, False])
def test_batches_from_a_start_are_the_tail_of_the_epoch(shuffle, drop_last):
    """A run resumed at batch k gets exactly batches k, k+1, ... of the epoch, for the
    in-memory split and the DataLoader one (which does not load the batches before k)."""
    from app.core.training.data import LoaderSplit, TensorSplit

    images = torch.arange(200 * 4, dtype=torch.uint8).view(200, 1, 2, 2)
    labels = torch.arange(200) % 10
    loaded: list[int] = []

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 200

        def __getitem__(self, i):
            loaded.append(i)
            return images[i], labels[i]

    for split in (TensorSplit(images, labels), LoaderSplit(Items(), CPU, 0)):

        def epoch(start=0, split=split):
            gen = torch.Generator().manual_seed(7)
            kwargs = {"shuffle": shuffle, "generator": gen, "drop_last": drop_last}
            return [y.tolist() for _, y in split.batches(64, start=start, **kwargs)]

        full = epoch()
        loaded.clear()
        assert epoch(2) == full[2:] and len(full) == (3 if drop_last else 4)
    assert len(loaded) == (192 if drop_last else 200) - 128  # only batches 2 and up loaded


def test_image_folder_with_random_split_and_train_val(tmp_path):
    from PIL import Image

    for split in ("", "train/", "val/"):
        for cls, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
            folder = tmp_path / "flat" / cls if not split else tmp_path / "tv" / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(5):
                Image.new("RGB", (40 + i, 30), colour).save(folder / f"{i}.png")
    config = TrainConfig.from_dict(
        {
            "dataset": "image_folder",
            "data_dir": str(tmp_path / "flat"),
            "val_split": 0.2,
            "workers": 0,
        }
    )
    data = load_data(config, CPU, (16, 16))
    assert data.info.classes == ("cats", "dogs") and (len(data.train), len(data.val)) == (8, 2)
    images, _ = next(data.train.batches(4, shuffle=False))
    assert images.shape == (4, 3, 16, 16) and images.dtype == torch.uint8
    data = load_data(config.replace(data_dir=str(tmp_path / "tv")), CPU, (16, 16))
    assert (len(data.train), len(data.val)) == (10, 10)
    with pytest.raises(DatasetError, match="does not exist"):
        load_data(config.replace(data_dir=str(tmp_path / "nope")), CPU, (16, 16))


# ---------------------------------------------------------------------- augmentation
def batch(n=8, c=3, size=12):
    torch.manual_seed(0)
    return torch.rand(n, c, size, size)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_crop_shifts_content_within_padding():
    x = batch()
    out = augment_ops.random_crop(x, 2, gen())
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2,) * 4)
    for i in range(len(x)):  # every output is some window of the padded input
        windows = padded[i].unfold(1, 12, 1).unfold(2, 12, 1)  # C, 5, 5, 12, 12
        match = (windows == out[i][:, None, None]).flatten(3).all(-1).all(0)
        assert match.any()
    assert torch.equal(out, augment_ops.random_crop(x, 2, gen()))  # seeded


def test_flips_and_jitter():
    x = batch(64)
    out = augment_ops.random_flip(x, -1, gen())
    flipped = [(o == xi.flip(-1)).all() for o, xi in zip(out, x, strict=True)]
    same = [(o == xi).all() for o, xi in zip(out, x, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True)) and 10 < sum(flipped) < 54
    j = augment_ops.color_jitter(x, 0.4, gen())
    assert j.shape == x.shape and j.min() >= 0 and j.max() <= 1 and not torch.equal(j, x)


def test_cutout_zeroes_a_square():
    x = torch.ones(16, 1, 20, 20)
    out = augment_ops.cutout(x, 6, gen())
    zeros = (out == 0).flatten(1).sum(1)
    assert zeros.max() == 36 and zeros.min() > 0  # full squares, clipped at borders


def test_mixup_blends_images_and_targets_alike():
    x = batch(16)
    labels = torch.arange(16)  # distinct labels: each target row reveals λ and the partner
    mixed, targets = augment_ops.mixup(x, labels, 16, 0.4, gen(), random.Random(0))
    torch.testing.assert_close(targets.sum(1), torch.ones(16))
    for i in range(16):
        own = targets[i, i].item()
        others = [k for k in range(16) if k != i and targets[i, k] > 0]
        partner = others[0] if others else i
        expected = own * x[i] + (1 - own) * x[partner] if others else x[i]
        torch.testing.assert_close(mixed[i], expected)


def test_augmenter_leaves_validation_alone():
    config = TrainConfig.from_dict({"hflip": True, "crop_padding": 4, "cutout": 3})
    aug = augment.Augmenter(config, (0.5,), (0.25,), CPU, gen(), random.Random(0))
    images = (batch(4, 1) * 255).to(torch.uint8)
    torch.testing.assert_close(aug.normalize(images), (images.float() / 255 - 0.5) / 0.25)
    x, y = aug.train(images, torch.zeros(4, dtype=torch.long), 10)
    assert x.shape == images.shape and y.dtype == torch.long


# -------------------------------------------------------------------- initialisation
@pytest.mark.parametrize(
    "scheme", ["lecun", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform"]
)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_initialisers_give_the_formula_variance(scheme, mode):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 128, 3), nn.Linear(600, 400))
    initialise(model, TrainConfig.from_dict({"init": scheme, "init_mode": mode}))
    for layer in model:
        w = layer.weight
        fan_in, fan_out = (576, 1152) if w.ndim == 4 else (600, 400)
        formula = {
            "lecun": 1 / fan_in,
            "xavier_normal": 2 / (fan_in + fan_out),
            "xavier_uniform": 2 / (fan_in + fan_out),
        }.get(scheme, 2 / (fan_in if mode == "fan_in" else fan_out))
        assert w.std().item() == pytest.approx(math.sqrt(formula), rel=0.03)
        assert expected_std(scheme, w, mode) == pytest.approx(math.sqrt(formula))
        assert w.mean().abs() < 0.1 * w.std()
        assert torch.count_nonzero(layer.bias) == 0


def test_fans_count_the_receptive_field_of_every_conv_rank():
    """fan_in = in_channels × kernel elements, fan_out = out_channels × kernel elements."""
    from app.core.training.portable.init import fans

    assert fans(nn.Linear(600, 400).weight) == (600, 400)
    assert fans(nn.Conv1d(4, 8, 5).weight) == (20, 40)
    assert fans(nn.Conv2d(4, 8, (3, 5)).weight) == (60, 120)
    assert fans(nn.Conv3d(2, 3, 3).weight) == (54, 81)


def test_default_init_keeps_pytorch_biases_and_zero_init_residual():
    torch.manual_seed(0)
    basic, bottle = ResidualBlock(8, 8), BottleneckBlock(8, 4)
    model = nn.Sequential(basic, bottle, nn.Linear(4, 4))
    initialise(model, TrainConfig.from_dict({"zero_init_residual": True}))
    assert torch.count_nonzero(model[2].bias) > 0
    assert (
        torch.count_nonzero(basic.bn2.weight) == 0 and torch.count_nonzero(bottle.bn3.weight) == 0
    )
    assert torch.count_nonzero(basic.bn1.weight) > 0


# ------------------------------------------------------------------------ optimizers
@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_fits_one_batch(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    x, y = torch.randn(32, 20), torch.randint(4, (32,))
    lr = {"sgd": 0.1, "adagrad": 0.1, "rmsprop": 0.003}.get(name, 0.01)
    config = TrainConfig.from_dict(
        {
            "optimizer": name,
            "lr": lr,
            "nesterov": True,
            "amsgrad": True,
            "momentum": 0.5 if name == "rmsprop" else 0.9,
        }
    )
    opt = build_optimizer(model, config)
    first = None
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    group = opt.param_groups[0]
    assert group["lr"] == lr and group["weight_decay"] == config.weight_decay
    if name == "sgd":
        assert group["nesterov"] and group["momentum"] == 0.9
    if name in ("adam", "adamw"):
        assert group["amsgrad"] and group["betas"] == (0.9, 0.999)


def test_fused_optimizers_on_cuda_only(monkeypatch):
    """CUDA parameters get the fused SGD/Adam/AdamW kernels (no per-step sync under fp16);
    torch accepts fused with every option we pass (checked with its CPU fused kernels)."""
    from app.core.training import optim

    cpu = [nn.Parameter(torch.randn(3))]
    assert optim.fused_kwargs(cpu) == {} and optim.fused_kwargs([]) == {}
    assert optim.fused_kwargs([torch.empty(1, device="meta")]) == {}
    on_gpu = SimpleNamespace(is_cuda=True)  # what a CUDA parameter answers
    assert optim.fused_kwargs([on_gpu, on_gpu]) == {"fused": True}
    assert optim.fused_kwargs([on_gpu, cpu[0]]) == {}
    model = nn.Linear(4, 2)
    monkeypatch.setattr(optim, "fused_kwargs", lambda params: {"fused": True})
    for name in ("sgd", "adam", "adamw"):
        config = TrainConfig.from_dict({"optimizer": name, "nesterov": True, "amsgrad": True})
        opt = optim.build_optimizer(model, config)
        assert opt.defaults["fused"] is True
        model(torch.randn(5, 4)).sum().backward()
        opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    seen = []
    monkeypatch.setattr(optim, "fused_kwargs", lambda params: seen.append(params) or {})
    for name in ("rmsprop", "adagrad"):  # no fused kernel: never asked (RMSprop would refuse)
        optim.build_optimizer(model, TrainConfig.from_dict({"optimizer": name}))
    assert seen == []
    optim.build_optimizer(model, TrainConfig.from_dict({"optimizer": "sgd"}))
    assert seen == [list(model.parameters())]  # asked about the parameters it will train


def test_set_lr_sets_every_parameter_group():
    from app.core.training.optim import set_lr

    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    set_lr(opt, 0.02)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.02]


def test_l1_adds_its_subgradient_to_the_weights_gradients():
    from app.core.training.optim import add_l1_gradient

    w = nn.Parameter(torch.tensor([[-2.0, 0.0, 3.0]]))
    unused = nn.Parameter(torch.ones(2, 2))  # no gradient this step: left alone
    w.grad = torch.full_like(w, 0.5)
    add_l1_gradient([w, unused], 0.1)
    torch.testing.assert_close(w.grad, torch.tensor([[0.4, 0.5, 0.6]]))
    assert unused.grad is None
    add_l1_gradient([], 0.1)  # nothing to do


def _write_idx(path, array, magic):
    import struct

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(struct.pack(">I", magic))
        for dim in array.shape:
            fh.write(struct.pack(">I", dim))
        fh.write(array.numpy().tobytes())


def test_torchvision_dataset_already_on_disk_loads_without_network(tmp_path):
    """MNIST files in torchvision's layout (tiny, written here) load as device tensors with
    the dataset's statistics and class names."""
    raw = tmp_path / "MNIST" / "raw"
    for split, n in (("train", 60), ("t10k", 20)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
        labels = (torch.arange(n) % 10).to(torch.uint8)
        _write_idx(raw / f"{split}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", labels, 2049)
    config = TrainConfig.from_dict({"dataset": "mnist", "data_dir": str(tmp_path)})
    data = load_data(config, CPU)
    assert data.info.name == "MNIST" and data.info.shape == (1, 28, 28)
    assert (len(data.train), len(data.val)) == (60, 20)
    assert data.info.mean == (0.1307,) and data.info.classes[3] == "3 - three"
    images, labels = next(data.train.batches(16, shuffle=False))
    assert images.shape == (16, 1, 28, 28) and labels.tolist()[:3] == [0, 1, 2]


@pytest.mark.parametrize(
    ("preset", "layer", "param"),
    [
        ("lenet5", "linear_3", "out_features"),
        ("squeezenet_cifar", "conv2d_2", "out_channels"),
        ("nin_cifar", "nin_block_3", "out_channels"),
    ],
)
def test_adapt_to_dataset_resizes_input_and_classifier(preset, layer, param):
    import presets
    from app.core.shapes import check
    from app.core.training.adapt import adapt_to_dataset

    graph = presets.get(preset).build()
    changes = adapt_to_dataset(graph, (3, 40, 40), 7)
    assert graph.node(layer).params[param] == 7
    report = check(graph)
    assert report.ok, report.errors
    assert report.nodes[report.input_id].shape == (3, 40, 40) and report.output_shape == (7,)
    assert any("input set to 3×40×40" in c for c in changes)
    assert adapt_to_dataset(graph, (3, 40, 40), 7) == []  # already fits


@pytest.mark.parametrize("preset", ["lenet5", "squeezenet_cifar", "nin_cifar", "mlp"])
@pytest.mark.parametrize("dataset", ["mnist", "cifar10", "shapes"])
def test_what_adapting_would_change_is_said_without_changing_the_graph(preset, dataset):
    """The dataset-fit bar asks on every edit; it must not touch (or copy) the document's
    graph, and must list what adapting really does."""
    import presets
    from app.core.shapes import check
    from app.core.training.adapt import adapt_to_dataset
    from app.core.training.fit import adapt_changes, adapt_target

    graph = presets.get(preset).build()
    report = check(graph)
    version = graph.version
    said = adapt_changes(dataset, graph, report)
    assert graph.version == version
    assert said == adapt_to_dataset(graph, *adapt_target(dataset, report))
    assert adapt_changes(dataset, graph, check(graph)) == []
