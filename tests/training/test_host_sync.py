"""Between two reports the training steps read nothing back from the device but the report.

On a GPU every value the host reads from a device tensor (``.item()``, ``.tolist()``,
``bool(t)``, ``int(t)``, ``.cpu()``, a boolean-mask index...) waits for the whole queue of kernels:
one per step would keep the GPU idle while Python catches up. The CUDA test counts real syncs
with ``torch.cuda.set_sync_debug_mode``; it needs a GPU. The CPU test runs everywhere (CI): it
intercepts every torch call made by our code (app, blocks, presets) with a TorchFunctionMode and
counts those that would read a device tensor back on the host.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import presets
from app.core.training.config import TrainConfig
from app.core.training.engine import Trainer
from app.core.training.events import StepReport
from tests.helpers import SMALL_TRAINING as SMALL
from tests.helpers import dropout_net

TORCH_DIR = str(Path(torch.__file__).parent)
#: torch's optimizers read their step counters, which live on the host unless ``capturable``
HOST_BOOKKEEPING = str(Path(torch.optim.__file__).parent)
OUR_CODE = tuple(str(Path(__file__).parents[2] / top) + "/" for top in ("app", "blocks", "presets"))
#: tensor methods and functions that copy a device value to the host (and so wait for it)
READS_BACK = {
    "item",
    "tolist",
    "cpu",
    "numpy",
    "__array__",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__complex__",
    "__repr__",
    "__format__",
    "nonzero",
    "argwhere",
    "masked_select",
    "unique",
    "unique_consecutive",
    "bincount",
    "repeat_interleave",
    "equal",
    "allclose",
    "is_nonzero",
}


class HostReads(TorchFunctionMode):
    """Records (call, caller) for every torch call of our code that reads a tensor back,
    directly or through torch (``clip_grad_norm_``...). ``ours``: the paths counted as ours."""

    def __init__(self, ours: tuple[str, ...] = OUR_CODE) -> None:
        super().__init__()
        self.ours = ours
        self.reads: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if _reads_back(name, args, kwargs):
            caller = _caller(self.ours)
            if caller is not None:
                self.reads.append(f"{name} at {caller}")
        return func(*args, **kwargs)


def _reads_back(name: str, args: tuple, kwargs: dict) -> bool:
    if name in READS_BACK:
        return True
    if name == "to":  # .to("cpu"): a copy to the host. (.to(device) is not counted: this run's
        # device is the CPU, but in a GPU run it names the GPU)
        target = kwargs.get("device", args[1] if len(args) > 1 else None)
        return isinstance(target, str) and target.startswith("cpu")
    if name in ("__getitem__", "__setitem__") and len(args) > 1:  # x[mask]: a nonzero inside
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
    return False


def _caller(ours: tuple[str, ...]) -> str | None:
    """The first frame outside torch, if it is our code or a compiled model's forward."""
    frame = sys._getframe(2)  # above this function and __torch_function__
    while frame is not None:
        file = frame.f_code.co_filename
        if file.startswith(HOST_BOOKKEEPING):
            return None
        if not file.startswith(TORCH_DIR):
            if file.startswith(ours) or file.startswith("<eval_with_key"):
                return f"{Path(file).name}:{frame.f_lineno}"
            return None
        frame = frame.f_back
    return None


def reads_per_tick(trainer: Trainer, ticks: int = 3) -> list[list[str]]:
    """The reads made while producing reports 3, 4, ... (start-up and the first reports, which
    move the data and warm up, are not counted)."""
    events = trainer.run()
    try:
        reports = 0
        for event in events:
            if isinstance(event, StepReport):
                reports += 1
                if reports == 2:
                    break
        counted: list[list[str]] = []
        while len(counted) < ticks:
            with HostReads() as mode:
                event = next(events)
            assert isinstance(event, StepReport), event
            counted.append(mode.reads)
        return counted
    finally:
        events.close()


AUGMENT = {"crop_padding": 2, "hflip": True, "color_jitter": 0.2, "cutout": 4}


@pytest.mark.parametrize(
    "graph, config",
    [
        (lambda: presets.get("lenet5").build(), {}),
        (dropout_net, {**AUGMENT, "optimizer": "adamw", "grad_clip": 1.0, "l1": 1e-4}),
        (dropout_net, {**AUGMENT, "mixup_alpha": 0.4, "label_smoothing": 0.1}),
        (lambda: presets.get("lenet5").build(), {"optimizer": "rmsprop", "schedule": "cosine"}),
    ],
    ids=["lenet-sgd", "augment-adamw-clip", "mixup", "rmsprop-cosine"],
)
def test_one_read_back_per_reporting_tick(tmp_path, graph, config):
    """Each report reads its values back once (one ``tolist``); the steps in between none."""
    cfg = TrainConfig.from_dict({**SMALL, "epochs": 1, "report_every": 3, **config})
    trainer = Trainer(graph(), cfg, runs_root=tmp_path)
    for reads in reads_per_tick(trainer):
        assert len(reads) == 1 and reads[0].startswith("tolist at reporting.py"), reads


def test_host_reads_sees_what_would_sync():
    """The detector itself: our code's reads are caught, torch-internal ones are not."""
    x = torch.randn(4)
    with HostReads(ours=(__file__,)) as mode:
        x.sum().item()
        bool(x.sum() > 0)
        x[x > 0]
        x.to("cpu")
        x.to(torch.device("cpu"))  # not counted (see _reads_back)
        torch.nn.utils.clip_grad_norm_([torch.nn.Parameter(x)], 1.0)  # no read
        x.numpy()
    assert [r.split(" ")[0] for r in mode.reads] == [
        "item",
        "__bool__",
        "__getitem__",
        "to",
        "numpy",
    ]
    assert all(r.split(" at ")[1].startswith("test_host_sync.py:") for r in mode.reads)
    with HostReads() as mode:  # the default: only app, blocks and presets count
        x.sum().item()
    assert mode.reads == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_at_most_one_host_sync_per_reporting_tick_on_cuda(tmp_path, amp):
    """The training steps between two reports wait for the GPU once (the report's values)."""
    import warnings

    trainer = Trainer(
        presets.get("lenet5").build(),
        TrainConfig.from_dict(
            {**SMALL, **AUGMENT, "device": "cuda", "epochs": 1, "report_every": 2, "amp": amp}
        ),
        runs_root=tmp_path,
    )
    events = trainer.run()
    reports = 0
    syncs: list[int] = []
    for event in events:  # start-up (data to the device, first report) is not counted
        if isinstance(event, StepReport):
            reports += 1
            if reports == 2:
                break
    torch.cuda.set_sync_debug_mode("warn")
    try:
        while len(syncs) < 3:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                event = next(events)
            if not isinstance(event, StepReport):
                break
            syncs.append(sum("synchroniz" in str(w.message) for w in caught))
    finally:
        torch.cuda.set_sync_debug_mode(0)
        events.close()
    assert len(syncs) == 3 and all(n <= 1 for n in syncs), syncs
