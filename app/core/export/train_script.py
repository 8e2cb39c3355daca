"""Export a training script: ``model.py`` (the exported code) and ``train.py``, which
reproduces the configured training with plain PyTorch and torchvision (dataset,
augmentation, optimizer, LR schedule, initialisation, epochs, mixed precision) on one device
or under ``torchrun`` with DistributedDataParallel. Only what the configuration uses is
generated, so the script stays short, and it passes ruff with default settings."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.export.model_code import ExportError, class_name, export_model_code
from app.core.graph import Graph
from app.core.names import safe_text, string_literal
from app.core.serialization import Project
from app.core.shapes import ShapeReport, check
from app.core.training.config import ConfigError, TrainConfig
from app.core.training.fit import dataset_fixes, dataset_problem
from app.core.training.options import DATASETS, INITS, OPTIMIZERS, SCHEDULES
from app.core.training.portable import augment_ops, datasets, init, schedules, shapes
from app.core.weight_sets import resize_side, weight_set
from blocks.base import literal


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
    copied = _copied(c)
    code = "\n".join(inspect.getsource(f) for f in copied)
    stdlib = [
        *(["import bisect"] if "bisect." in code else []),
        *(["import math"] if "math." in code else []),
        "import os",
        *(["import random"] if c.mixup_alpha else []),
        *(["from collections.abc import Callable"] if "Callable[" in code else []),
    ]
    optimizer = OPTIMIZERS[c.optimizer].cls
    third_party = sorted(
        {
            "import torch",
            "import torch.distributed as dist",
            *(
                ["import torchvision"]
                if DATASETS[c.dataset].source != "built_in" or c.pretrained
                else []
            ),
            *(
                [f"import {optimizer.rpartition('.')[0]}"]
                if not optimizer.startswith("torch.")
                else []
            ),
        }
    )
    head = (
        _docstring(project, c)
        + "\n"
        + "\n".join(stdlib)
        + "\n\n"
        + "\n".join([*third_party, "from torch import nn"])
        + f"\n\nfrom model import {cls}\n\n"
        + _constants(c, in_shape, report.output_shape[0])  # type: ignore[index, arg-type]
        + _learning_constants(project.graph, report)
    )
    weighted = {n for n, info in report.nodes.items() if info.params}
    frozen = bool(project.graph.frozen() & weighted)
    mults = any(project.graph.node(n).learning.lr_mult != 1 for n in weighted)
    parts = [
        head,
        *(inspect.getsource(f) for f in copied),
        _load_data(c, in_shape),  # type: ignore[arg-type]
        _augment(c),
        _initialise(c),
        _load_pretrained(c),
        _build_model(c, cls, frozen),
        _TRAIN_MODE if frozen else "",
        _LR_MULT if mults else "",
        _optimizer(c, frozen, mults),
        _learning_rate(c),
        _evaluate(),
        _main(c, frozen, mults),
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
        *([f"WARMUP_EPOCHS = {c.warmup_epochs}"] if c.warmup_epochs else []),
        f"LABEL_SMOOTHING = {c.label_smoothing!r}",
        f"GRAD_CLIP = {c.grad_clip!r}  # 0: off",
        *([f"L1 = {c.l1!r}  # L1 penalty on conv/linear weights"] if c.l1 else []),
        f'AMP = "{c.amp}"  # none, bf16 or fp16',
        f"CHANNELS_LAST = {c.channels_last}",
        f"SEED = {c.seed}",
        *([f"WEIGHTS = {string_literal(c.weights)}  # start from these"] if c.weights else []),
        *(
            [f'PRETRAINED = "{c.pretrained}"  # torchvision\'s weights to start from']
            if c.pretrained
            else []
        ),
        'DATA_DIR = os.environ.get("DATA_DIR", "data")',
        f"INPUT_SHAPE = {tuple(in_shape)}",
    ]
    if DATASETS[c.dataset].source == "built_in":
        names = [f'"{n}"' for n in shapes.CLASSES]
        one = f"CLASSES = ({', '.join(names)})"
        lines += [one] if len(one) <= 88 else ["CLASSES = (", *[f"    {n}," for n in names], ")"]
    if c.mixup_alpha:
        lines.append(f"NUM_CLASSES = {classes}  # the network's outputs")
    return "\n".join(lines) + "\n"


def _copied(c: TrainConfig) -> list[Callable[..., Any]]:
    """The functions of NetBuilder's portable, torch-only code that the script copies
    verbatim: the engine runs the same code, so the script follows it."""
    out: list[Callable[..., Any]] = []
    source = DATASETS[c.dataset].source
    if source == "built_in":
        out += [shapes._masks, shapes.make_shapes, shapes.draw_shapes]
    elif source == "torchvision":
        out.append(datasets.as_nchw)
    if c.crop_padding or c.hflip or c.vflip or c.color_jitter or c.cutout:
        out += [augment_ops._rand, augment_ops._randint]
    if c.crop_padding:
        out.append(augment_ops.random_crop)
    if c.hflip or c.vflip:
        out.append(augment_ops.random_flip)
    if c.color_jitter:
        out.append(augment_ops.color_jitter)
    if c.cutout:
        out.append(augment_ops.cutout)
    if c.mixup_alpha:
        out.append(augment_ops.mixup)
    scheme = INITS[c.init]
    if scheme.std is not None:
        out += [init.fans, scheme.std, init.init_weights]
    if c.zero_init_residual:
        out.append(init.zero_residual_branches)
    return [*out, schedules.lr_at, SCHEDULES[c.schedule].function]


def _load_data(c: TrainConfig, in_shape: tuple[int, ...]) -> str:
    text = _load_data_of(c, in_shape)
    if not c.pretrained:
        return text
    ws = weight_set(c.pretrained)
    lines = text.rstrip("\n").split("\n")
    last = lines.pop()
    lines += [
        "    # the pretrained weights' normalisation",
        f"    mean, std = torch.tensor({ws.mean!r}), torch.tensor({ws.std!r})",
        last,
    ]
    return "\n".join(lines) + "\n"


def _load_data_of(c: TrainConfig, in_shape: tuple[int, ...]) -> str:
    head = (
        "def load_data(rank: int, world: int) -> tuple:\n"
        '    """Train and validation images (uint8 N×C×H×W) and labels, mean and std."""\n'
    )
    spec = DATASETS[c.dataset]
    if spec.source == "built_in":
        ch, size = spec.channels, in_shape[-1]
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
    if spec.source == "folder":
        size = f"({in_shape[1]}, {in_shape[2]})"
        side = resize_side(c.pretrained, (in_shape[1], in_shape[2]))
        steps = f"v2.Resize({side}), v2.CenterCrop({size})" if side else f"v2.Resize({size})"
        return head + (
            "    from torchvision.transforms import v2\n"
            "\n"
            f"    resize = v2.Compose([v2.PILToTensor(), {steps}])\n"
            "    splits = []\n"
            '    for part in ("train", "val"):\n'
            "        folder = torchvision.datasets.ImageFolder(\n"
            f"            os.path.join({string_literal(c.data_dir)}, part), transform=resize\n"
            "        )\n"
            "        images = torch.stack([image for image, _ in folder])  # all in memory\n"
            "        labels = torch.tensor(folder.targets)\n"
            "        splits += [images, labels]\n"
            f"    mean = torch.tensor({spec.mean!r})\n"
            f"    std = torch.tensor({spec.std!r})\n"
            "    return (*splits, mean, std)\n"
        )
    split = 'split="train" if train else "test"' if spec.split == "split" else "train=train"
    call = f"torchvision.datasets.{spec.tv_class}(DATA_DIR, {split}, download=True)"
    return head + (
        "    splits = []\n"
        "    for train in (True, False):\n"
        "        if rank != 0 and world > 1:\n"
        "            dist.barrier()  # rank 0 downloads first\n"
        + "\n".join(_assign("        ds = ", call))
        + "\n"
        "        if rank == 0 and world > 1:\n"
        "            dist.barrier()\n"
        f"        splits += [as_nchw(ds.data), torch.as_tensor(ds.{spec.labels})]\n"
        f"    mean = torch.tensor({spec.mean!r})\n"
        f"    std = torch.tensor({spec.std!r})\n"
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


def _initialise(c: TrainConfig) -> str:
    scheme = INITS[c.init]
    lines = [
        "def initialise(model: nn.Module) -> None:",
        f'    """{c.init} initialisation: {scheme.help}."""',
    ]
    if scheme.std is not None:
        args = _keywords({"uniform": scheme.uniform, "mode": c.init_mode, "zero_bias": c.zero_bias})
        lines += _assign("    ", f"init_weights(model, {scheme.std.__name__}, {args})")
    if c.zero_init_residual:
        lines.append("    zero_residual_branches(model)  # residual blocks start as identities")
    if len(lines) == 2:
        lines.append("    del model  # PyTorch's own initialisation")
    return "\n".join(lines) + "\n"


_LOAD_WEIGHTS = (
    "    model.load_state_dict(torch.load(WEIGHTS, map_location=device, weights_only=True))\n"
)


_FREEZE = (
    "    for name in FROZEN:  # backward stops where nothing below needs a gradient\n"
    "        model.get_submodule(name).requires_grad_(False)\n"
)

_TRAIN_MODE = '''def train_mode(model: nn.Module) -> None:
    """Training mode, except the frozen layers' BatchNorm: it keeps its statistics."""
    model.train()
    for name in FROZEN:
        for m in model.get_submodule(name).modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
'''


_LR_MULT = '''def lr_mult(name: str) -> float:
    """The multiplier of the module a parameter belongs to (its longest listed prefix)."""
    parts = name.split(".")
    for k in range(len(parts) - 1, 0, -1):
        mult = LR_MULT.get(".".join(parts[:k]))
        if mult is not None:
            return mult
    return 1.0
'''


def _learning_constants(graph: Graph, report: ShapeReport) -> str:
    """FROZEN and LR_MULT: the modules with weights that are frozen or have a multiplier."""
    names = graph.module_names()
    weighted = [n for n in graph.nodes if report.nodes[n].params]
    frozen = [names[n] for n in weighted if not graph.node(n).learning.trainable]
    mults = {names[n]: graph.node(n).learning.lr_mult for n in weighted}
    pairs = [f"{string_literal(k)}: {v!r}" for k, v in mults.items() if v != 1]
    lines = []
    if frozen:
        lines.append("# modules whose weights do not train (fine-tuning)")
        lines += _assign("", f"FROZEN = {literal(tuple(frozen))}")
    if pairs:
        lines.append("# learning-rate multipliers by module (the rest: ×1)")
        lines += _assign("", "LR_MULT = {" + ", ".join(pairs) + "}")
    return "\n".join(lines) + "\n" if lines else ""


def _load_pretrained(c: TrainConfig) -> str:
    if not c.pretrained:
        return ""
    model = weight_set(c.pretrained).model
    return f'''def load_pretrained(model: nn.Module) -> None:
    """torchvision's weights by module name (downloaded once into the torch hub cache);
    layers of another shape (a classifier for these classes) keep their initialisation."""
    source = torchvision.models.get_model("{model}", weights=PRETRAINED).state_dict()
    own = model.state_dict()
    same = {{k: v for k, v in source.items() if k in own and v.shape == own[k].shape}}
    model.load_state_dict(same, strict=False)
    kept = sorted({{k.rsplit(".", 1)[0] for k in own if k not in same}})
    if kept:
        print("re-initialised (other shapes than the weights):", ", ".join(kept))
'''


def _build_model(c: TrainConfig, cls: str, frozen: bool = False) -> str:
    return (
        "def build_model(device: torch.device) -> nn.Module:\n"
        '    """The network, initialised from SEED as NetBuilder initialises it."""\n'
        "    torch.manual_seed(SEED)\n"
        f"    model = {cls}().to(device)\n"
        "    initialise(model)\n"
        + ("    load_pretrained(model)\n" if c.pretrained else "")
        + (_LOAD_WEIGHTS if c.weights else "")
        + (_FREEZE if frozen else "")
        + "    if CHANNELS_LAST:\n"
        "        model = model.to(memory_format=torch.channels_last)\n"
        "    return model\n"
    )


def _keywords(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={literal(v)}" for k, v in arguments.items())


def _optimizer(c: TrainConfig, frozen: bool = False, mults: bool = False) -> str:
    spec = OPTIMIZERS[c.optimizer]
    params, body = "model.parameters()", []
    if mults:
        params = '[{"params": ps, "lr_mult": m} for m, ps in groups.items()]'
        body = [
            '    """A parameter group per learning-rate multiplier, of the weights that train."""',
            "    groups: dict[float, list[nn.Parameter]] = {}",
            "    for name, p in model.named_parameters():",
            "        if p.requires_grad:",
            "            groups.setdefault(lr_mult(name), []).append(p)",
        ]
    elif frozen:
        params = "[p for p in model.parameters() if p.requires_grad]"
    args = ", ".join(filter(None, [params, "lr=LR", _keywords(spec.arguments(c))]))
    return (
        "def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:\n"
        + "".join(line + "\n" for line in body)
        + "\n".join(_assign("    return ", f"{spec.cls}({args})"))
        + "\n"
    )


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


def _learning_rate(c: TrainConfig) -> str:
    spec = SCHEDULES[c.schedule]
    warmup = "WARMUP_EPOCHS" if c.warmup_epochs else "0"
    args = ", ".join(
        filter(
            None,
            [
                f"step, {spec.function.__name__}, LR, steps_per_epoch, EPOCHS, {warmup}",
                _keywords(spec.arguments(c)),
            ],
        )
    )
    return (
        "def learning_rate(step: int, steps_per_epoch: int) -> float:\n"
        f'    """The learning rate of optimiser step ``step`` ({c.schedule} schedule)."""\n'
        + "\n".join(_assign("    return ", f"lr_at({args})"))
        + "\n"
    )


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


def _main(c: TrainConfig, frozen: bool = False, mults: bool = False) -> str:
    scaled = ' * group["lr_mult"]' if mults else ""
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
    xtr, ytr, xva, yva, mean, std = load_data(rank, world)
    xtr, ytr, xva, yva = xtr.to(device), ytr.to(device), xva.to(device), yva.to(device)
    mean, std = mean.to(device).view(1, -1, 1, 1), std.to(device).view(1, -1, 1, 1)
    model = build_model(device)
    net = model
    if world > 1:
        ids = [local] if cuda else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    opt = make_optimizer(model)
{l1_weights}    per_rank = max(1, BATCH_SIZE // world)
    steps_per_epoch = max(1, len(ytr) // world // per_rank)
    dtype = {{"bf16": torch.bfloat16, "fp16": torch.float16}}.get(AMP)
    scaler = torch.amp.GradScaler(device.type, enabled=AMP == "fp16" and cuda)
    gen = torch.Generator(device=device if cuda else "cpu").manual_seed(SEED + 1)
{rng}    step = 0
    for epoch in range(EPOCHS):
        {"train_mode(model)" if frozen else "model.train()"}
        order_gen = torch.Generator().manual_seed(SEED * 1_000_003 + epoch)
        order = torch.randperm(len(ytr), generator=order_gen)
        order = order[: len(order) - len(order) % world][rank::world].to(device)
        total = torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, steps_per_epoch){scaled}
            step += 1
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
