"""Export a training script: ``model.py`` (the exported code) and ``train.py``, which
reproduces the configured training with plain PyTorch and torchvision (dataset,
augmentation, optimizer, LR schedule, initialisation, epochs, mixed precision) on one device
or under ``torchrun`` with DistributedDataParallel. Only what the configuration uses is
generated, so the script stays short, and it passes ruff with default settings."""

from __future__ import annotations

import inspect
from pathlib import Path

from app.core.exporter import ExportError, class_name, export_model_code
from app.core.names import safe_text, string_literal
from app.core.serialization import Project
from app.core.shapes import check
from app.core.training.config import ConfigError, TrainConfig
from app.core.training.data import STATS
from app.core.training.fit import dataset_fixes, dataset_problem
from app.core.training.portable import augment_ops, shapes

_TORCHVISION = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "svhn": "SVHN",
}


def export_training_script(project: Project, folder: Path) -> list[Path]:
    """Write ``model.py`` and ``train.py`` into ``folder``; returns their paths."""
    try:
        config = TrainConfig.from_dict(project.training)
    except ConfigError as exc:  # a hand-edited project file: said as what it is, not a crash
        raise ExportError(f"the project's {exc}") from exc
    report = check(project.graph)
    problem = dataset_problem(config.dataset, report)
    if problem:  # the script would stop with a traceback at its first batch
        raise ExportError(
            f"the training script could not run: {problem}; {dataset_fixes(config.dataset, report)}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = project.name or "Net"
    model_py, train_py = folder / "model.py", folder / "train.py"
    model_py.write_text(export_model_code(project.graph, name), encoding="utf-8")
    train_py.write_text(training_script(project, config), encoding="utf-8")
    return [model_py, train_py]


def training_script(project: Project, c: TrainConfig) -> str:
    report = check(project.graph)
    cls = class_name(project.name or "Net")
    in_shape = report.nodes[report.input_id].shape  # type: ignore[index]
    residual = _residual_classes(project)
    uses_math = c.schedule == "inverse_sqrt"
    imports = [
        "import math\n" if uses_math else "",
        "import os\n",
        "import random\n" if c.mixup_alpha else "",
        "\nimport torch\n",
        "import torch.distributed as dist\n",
        "import torchvision\n" if c.dataset not in ("shapes", "shapes_gray") else "",
        "from torch import nn\n",
    ]
    model_import = ", ".join([cls, *residual])
    head = (
        _docstring(project, c)
        + "\n"
        + "".join(imports)
        + f"\nfrom model import {model_import}\n\n"
        + _constants(c, in_shape, report.output_shape[0])  # type: ignore[index, arg-type]
    )
    parts = [
        head,
        *_copied(c),
        _load_data(c, in_shape),  # type: ignore[arg-type]
        _augment(c),
        _initialise(c, residual),
        _optimizer(c),
        _schedule(c),
        _evaluate(),
        _main(c, cls),
        'if __name__ == "__main__":\n    main()\n',
    ]
    return "\n\n".join(p.strip("\n") + "\n" for p in parts if p)


def _docstring(project: Project, c: TrainConfig) -> str:
    return (
        f'"""Train {safe_text(project.name, 60) or "the network"} (exported by NetBuilder).\n\n'
        "Reproduces the configured training with plain PyTorch: dataset, augmentation,\n"
        "optimizer, learning-rate schedule, initialisation, epochs and mixed precision.\n"
        "Early stopping, snapshot ensembles and test-time augmentation stay in NetBuilder.\n\n"
        "    python train.py                         # one device (CUDA when available)\n"
        "    torchrun --nproc_per_node=2 train.py    # DistributedDataParallel\n"
        '"""\n'
    )


def _constants(c: TrainConfig, in_shape: tuple[int, ...], classes: int) -> str:
    lines = [
        f"EPOCHS = {c.epochs}",
        f"BATCH_SIZE = {c.batch_size}  # global: split across processes",
        f"LR = {c.lr!r}",
        f"WEIGHT_DECAY = {c.weight_decay!r}",
        f"LABEL_SMOOTHING = {c.label_smoothing!r}",
        f"GRAD_CLIP = {c.grad_clip!r}  # 0: off",
        *([f"L1 = {c.l1!r}  # L1 penalty on conv/linear weights"] if c.l1 else []),
        f'AMP = "{c.amp}"  # none, bf16 or fp16',
        f"CHANNELS_LAST = {c.channels_last}",
        f"SEED = {c.seed}",
        'DATA_DIR = os.environ.get("DATA_DIR", "data")',
        f"INPUT_SHAPE = {tuple(in_shape)}",
    ]
    if c.dataset in ("shapes", "shapes_gray"):
        names = [f'"{n}"' for n in shapes.CLASSES]
        one = f"CLASSES = ({', '.join(names)})"
        lines += [one] if len(one) <= 88 else ["CLASSES = (", *[f"    {n}," for n in names], ")"]
    if c.mixup_alpha:
        lines.append(f"NUM_CLASSES = {classes}  # the network's outputs")
    return "\n".join(lines) + "\n"


def _copied(c: TrainConfig) -> list[str]:
    """Source copied verbatim from NetBuilder's portable, torch-only code."""
    out = []
    if c.dataset in ("shapes", "shapes_gray"):
        out += [inspect.getsource(shapes._masks), inspect.getsource(shapes.make_shapes)]
    ops = []
    if c.crop_padding or c.hflip or c.vflip or c.color_jitter or c.cutout:
        ops += [augment_ops._rand, augment_ops._randint]
    if c.crop_padding:
        ops.append(augment_ops.random_crop)
    if c.hflip or c.vflip:
        ops.append(augment_ops.random_flip)
    if c.color_jitter:
        ops.append(augment_ops.color_jitter)
    if c.cutout:
        ops.append(augment_ops.cutout)
    if c.mixup_alpha:
        ops.append(augment_ops.mixup)
    return out + [inspect.getsource(f) for f in ops]


def _load_data(c: TrainConfig, in_shape: tuple[int, ...]) -> str:
    head = (
        "def load_data(rank: int, world: int) -> tuple:\n"
        '    """Train and validation images (uint8 N×C×H×W) and labels, mean and std."""\n'
    )
    if c.dataset in ("shapes", "shapes_gray"):
        ch, size = (1 if c.dataset == "shapes_gray" else 3), in_shape[-1]
        return head + (
            f"    xtr, ytr = make_shapes({c.train_size}, {size}, {ch}, seed=SEED * 2 + 1)\n"
            f"    xva, yva = make_shapes({c.val_size}, {size}, {ch}, seed=SEED * 2 + 2)\n"
            "    mean, std = xtr.mean((0, 2, 3)), xtr.std((0, 2, 3))\n"
            "\n"
            "    def to_uint8(x: torch.Tensor) -> torch.Tensor:\n"
            "        return (x * 255).round().to(torch.uint8)\n"
            "\n"
            "    return to_uint8(xtr), ytr, to_uint8(xva), yva, mean, std\n"
        )
    if c.dataset == "image_folder":
        size = f"({in_shape[1]}, {in_shape[2]})"
        return head + (
            "    from torchvision.transforms import v2\n"
            "\n"
            f"    resize = v2.Compose([v2.PILToTensor(), v2.Resize({size})])\n"
            "    splits = []\n"
            '    for part in ("train", "val"):\n'
            "        folder = torchvision.datasets.ImageFolder(\n"
            f"            os.path.join({string_literal(c.data_dir)}, part), transform=resize\n"
            "        )\n"
            "        images = torch.stack([image for image, _ in folder])  # all in memory\n"
            "        labels = torch.tensor(folder.targets)\n"
            "        splits += [images, labels]\n"
            "    mean = torch.tensor([0.485, 0.456, 0.406])\n"
            "    std = torch.tensor([0.229, 0.224, 0.225])\n"
            "    return (*splits, mean, std)\n"
        )
    tv = _TORCHVISION[c.dataset]
    mean, std = STATS[c.dataset]
    split = 'split="train" if train else "test"' if c.dataset == "svhn" else "train=train"
    labels = "ds.labels" if c.dataset == "svhn" else "ds.targets"
    convert = {
        "mnist": ".unsqueeze(1)",
        "fashion_mnist": ".unsqueeze(1)",
        "cifar10": ".permute(0, 3, 1, 2).contiguous()",
        "cifar100": ".permute(0, 3, 1, 2).contiguous()",
        "svhn": "",
    }[c.dataset]
    return head + (
        "    splits = []\n"
        "    for train in (True, False):\n"
        "        if rank != 0 and world > 1:\n"
        "            dist.barrier()  # rank 0 downloads first\n"
        + "\n".join(
            _assign("        ds = ", f"torchvision.datasets.{tv}(DATA_DIR, {split}, download=True)")
        )
        + "\n"
        "        if rank == 0 and world > 1:\n"
        "            dist.barrier()\n"
        f"        images = torch.as_tensor(ds.data){convert}\n"
        f"        splits += [images, torch.as_tensor({labels})]\n"
        f"    mean = torch.tensor({mean!r})\n"
        f"    std = torch.tensor({std!r})\n"
        "    return (*splits, mean, std)\n"
    )


def _augment(c: TrainConfig) -> str:
    body = [
        "def augment(",
        "    x: torch.Tensor,",
        "    y: torch.Tensor,",
        "    mean: torch.Tensor,",
        "    std: torch.Tensor,",
        "    gen: torch.Generator,",
        *(["    rng: random.Random,"] if c.mixup_alpha else []),
        ") -> tuple[torch.Tensor, torch.Tensor]:",
        '    """Training batch: uint8 → augmented, normalised float (and soft targets)."""',
        "    x = x.float() / 255",
    ]
    if c.crop_padding:
        body.append(f"    x = random_crop(x, {c.crop_padding}, gen)")
    if c.hflip:
        body.append("    x = random_flip(x, -1, gen)")
    if c.vflip:
        body.append("    x = random_flip(x, -2, gen)")
    if c.color_jitter:
        body.append(f"    x = color_jitter(x, {c.color_jitter!r}, gen)")
    body.append("    x = (x - mean) / std")
    if c.cutout:
        body.append(f"    x = cutout(x, {c.cutout}, gen)")
    if c.mixup_alpha:
        body.append(f"    x, y = mixup(x, y, NUM_CLASSES, {c.mixup_alpha!r}, gen, rng)")
    if not (c.crop_padding or c.hflip or c.vflip or c.color_jitter or c.cutout or c.mixup_alpha):
        body.append("    del gen  # no augmentation configured")
    body.append("    return x, y")
    return "\n".join(body) + "\n"


def _residual_classes(project: Project) -> list[str]:
    used = set()
    for node in project.graph.nodes.values():
        if node.type_id == "residual" and node.params["version"] != "v2":
            used.add("BottleneckBlock" if node.params["kind"] == "bottleneck" else "ResidualBlock")
    return sorted(used) if TrainConfig.from_dict(project.training).zero_init_residual else []


def _initialise(c: TrainConfig, residual: list[str]) -> str:
    call = {
        "lecun": 'nn.init.kaiming_normal_(m.weight, nonlinearity="linear")',
        "xavier_normal": "nn.init.xavier_normal_(m.weight)",
        "xavier_uniform": "nn.init.xavier_uniform_(m.weight)",
        "he_normal": f'nn.init.kaiming_normal_(m.weight, mode="{c.init_mode}", '
        'nonlinearity="relu")',
        "he_uniform": f'nn.init.kaiming_uniform_(m.weight, mode="{c.init_mode}", '
        'nonlinearity="relu")',
    }.get(c.init)
    lines = ["def initialise(model: nn.Module) -> None:"]
    if call:
        lines += [
            f'    """{c.init} initialisation of convolution and linear weights."""',
            "    layers = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)",
            "    for m in model.modules():",
            "        if isinstance(m, layers):",
            f"            {call}",
        ]
        if c.zero_bias:
            lines += [
                "            if m.bias is not None:",
                "                nn.init.zeros_(m.bias)",
            ]
    else:
        lines.append('    """PyTorch\'s default initialisation, plus the options below."""')
    if residual:
        lines.append("    for m in model.modules():  # residual blocks start as identities")
        for cls in residual:
            bn = "bn3" if cls == "BottleneckBlock" else "bn2"
            lines += [
                f"        if isinstance(m, {cls}):",
                f"            nn.init.zeros_(m.{bn}.weight)",
            ]
    if len(lines) == 2:
        lines.append("    del model")
    return "\n".join(lines) + "\n"


def _optimizer(c: TrainConfig) -> str:
    args = {
        "sgd": f"lr=LR, momentum={c.momentum!r}, nesterov={c.nesterov and c.momentum > 0}, "
        "weight_decay=WEIGHT_DECAY",
        "adam": f"lr=LR, betas=({c.beta1!r}, {c.beta2!r}), eps={c.eps!r}, "
        f"weight_decay=WEIGHT_DECAY, amsgrad={c.amsgrad}",
        "adamw": f"lr=LR, betas=({c.beta1!r}, {c.beta2!r}), eps={c.eps!r}, "
        f"weight_decay=WEIGHT_DECAY, amsgrad={c.amsgrad}",
        "rmsprop": f"lr=LR, alpha={c.alpha!r}, eps={c.eps!r}, momentum={c.momentum!r}, "
        "weight_decay=WEIGHT_DECAY",
        "adagrad": f"lr=LR, eps={c.eps!r}, weight_decay=WEIGHT_DECAY",
    }[c.optimizer]
    cls = {
        "sgd": "SGD",
        "adam": "Adam",
        "adamw": "AdamW",
        "rmsprop": "RMSprop",
        "adagrad": "Adagrad",
    }[c.optimizer]
    call = f"    return torch.optim.{cls}(model.parameters(), {args})"
    if len(call) > 88:
        items = [a.strip() for a in _split_args(args)]
        call = "\n".join(
            [
                f"    return torch.optim.{cls}(",
                "        model.parameters(),",
                *[f"        {a}," for a in items],
                "    )",
            ]
        )
    return "def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:\n" + call + "\n"


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += 1 if ch in "([" else -1 if ch in ")]" else 0
        cur += ch
    return [*out, cur]


def _schedule(c: TrainConfig) -> str:
    lines = [
        "def make_schedule(",
        "    opt: torch.optim.Optimizer, steps_per_epoch: int",
        ") -> torch.optim.lr_scheduler.LRScheduler:",
        '    """The learning rate per step (the scheduler is stepped after every batch)."""',
        "    spe = steps_per_epoch",
        f"    warmup = {c.warmup_epochs} * spe",
    ]
    kind = c.schedule
    if kind in ("cosine", "one_cycle"):
        lines.append("    total = EPOCHS * spe - warmup")
    lines.append("    sched = torch.optim.lr_scheduler")
    lam = {
        "constant": "lambda step: 1.0",
        "step": f"lambda step: {c.gamma!r} ** (step // spe // {c.step_size})",
        "multistep": f"lambda step: {c.gamma!r} ** sum(step // spe >= m for m in "
        f"{tuple(sorted(c.milestones))!r})",
        "exponential": f"lambda step: {c.gamma!r} ** (step // spe)",
        "inverse_epoch": "lambda step: 1 / (step // spe + 1)",
        "inverse_sqrt": "lambda step: 1 / math.sqrt(step + 1)",
    }.get(kind)
    if lam:
        main = f"sched.LambdaLR(opt, {lam})"
    elif kind == "cosine" and not c.snapshots:
        main = f"sched.CosineAnnealingLR(opt, T_max=total, eta_min={c.eta_min!r})"
    elif kind == "cosine":  # snapshot ensembles: equal cosine cycles
        main = (
            f"sched.CosineAnnealingWarmRestarts(opt, T_0=max(1, total // {c.snapshots}), "
            f"eta_min={c.eta_min!r})"
        )
    elif kind == "cosine_restarts":
        main = (
            f"sched.CosineAnnealingWarmRestarts(opt, T_0={c.restart_period} * spe, "
            f"T_mult={c.restart_mult}, eta_min={c.eta_min!r})"
        )
    else:
        main = f"sched.OneCycleLR(opt, max_lr=LR, total_steps=total, pct_start={c.pct_start!r})"
    lines += _assign("    main = ", main)
    lines += [
        "    if not warmup:",
        "        return main",
        "    start = sched.LinearLR(opt, start_factor=1 / warmup, total_iters=max(1, warmup - 1))",
        "    return sched.SequentialLR(opt, [start, main], milestones=[warmup])",
    ]
    return "\n".join(lines) + "\n"


def _assign(prefix: str, expr: str) -> list[str]:
    """``prefix + expr`` wrapped as ruff would wrap a call (one level)."""
    if len(prefix) + len(expr) <= 88:
        return [prefix + expr]
    head, _, rest = expr.partition("(")
    inner = rest[:-1]
    indent = " " * (len(prefix) - len(prefix.lstrip()) + 4)
    if len(indent) + len(inner) <= 88:
        return [f"{prefix}{head}(", indent + inner, f"{indent[:-4]})"]
    return [
        f"{prefix}{head}(",
        *[f"{indent}{a.strip()}," for a in _split_args(inner)],
        f"{indent[:-4]})",
    ]


def _evaluate() -> str:
    return '''@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
) -> tuple[float, float]:
    """Validation loss and accuracy."""
    model.eval()
    loss = correct = 0.0
    for start in range(0, len(labels), 256):
        x = (images[start : start + 256].float() / 255 - mean) / std
        y = labels[start : start + 256]
        out = model(x)
        loss += nn.functional.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
    return loss / len(labels), correct / len(labels)
'''


def _main(c: TrainConfig, cls: str) -> str:
    rng = "    rng = random.Random(SEED + 2)  # mixup's λ, on the host\n" if c.mixup_alpha else ""
    clip = (
        "            if GRAD_CLIP:\n"
        "                scaler.unscale_(opt)\n"
        "                nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)\n"
    )
    if c.l1:
        clip = (
            "            scaler.unscale_(opt)\n"
            "            for w in l1_weights:  # the L1 penalty's gradient: L1 * sign(w)\n"
            "                if w.grad is not None:\n"
            "                    w.grad.add_(w.detach().sign(), alpha=L1)\n"
            "            if GRAD_CLIP:\n"
            "                nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)\n"
        )
    l1_weights = "    l1_weights = [p for p in model.parameters() if p.ndim > 1]\n" if c.l1 else ""
    return f"""def main() -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    torch.manual_seed(SEED)
    xtr, ytr, xva, yva, mean, std = load_data(rank, world)
    xtr, ytr, xva, yva = xtr.to(device), ytr.to(device), xva.to(device), yva.to(device)
    mean, std = mean.to(device).view(1, -1, 1, 1), std.to(device).view(1, -1, 1, 1)
    model = {cls}().to(device)
    initialise(model)
    if CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
    net = model
    if world > 1:
        ids = [local] if cuda else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    opt = make_optimizer(model)
{l1_weights}    per_rank = max(1, BATCH_SIZE // world)
    steps_per_epoch = max(1, len(ytr) // world // per_rank)
    schedule = make_schedule(opt, steps_per_epoch)
    dtype = {{"bf16": torch.bfloat16, "fp16": torch.float16}}.get(AMP)
    scaler = torch.amp.GradScaler(device.type, enabled=AMP == "fp16" and cuda)
    gen = torch.Generator(device=device if cuda else "cpu").manual_seed(SEED + 1)
{rng}    for epoch in range(EPOCHS):
        model.train()
        order_gen = torch.Generator().manual_seed(SEED * 1_000_003 + epoch)
        order = torch.randperm(len(ytr), generator=order_gen)
        order = order[: len(order) - len(order) % world][rank::world].to(device)
        total = torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            idx = order[i * per_rank : (i + 1) * per_rank]
            x, y = augment(xtr[idx], ytr[idx], mean, std, gen{", rng" if c.mixup_alpha else ""})
            if CHANNELS_LAST:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = net(x)
            loss = nn.functional.cross_entropy(
                out.float(), y, label_smoothing=LABEL_SMOOTHING
            )
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
{clip}            scaler.step(opt)
            scaler.update()
            schedule.step()
            total += loss.detach()
        val_loss, val_acc = evaluate(model, xva, yva, mean, std)
        if rank == 0:
            train_loss = total.item() / steps_per_epoch
            print(
                f"epoch {{epoch + 1}}/{{EPOCHS}}  train loss {{train_loss:.4f}}  "
                f"val loss {{val_loss:.4f}}  val acc {{val_acc:.4f}}",
                flush=True,
            )
    if rank == 0:
        torch.save(model.state_dict(), "model.pt")
        print("saved model.pt")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
"""
