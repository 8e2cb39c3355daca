"""A device's speed, measured once and cached, for the pre-flight step-time estimate
(:func:`app.core.cost.step_seconds`): convolution throughput by reduction depth (C_in·k²),
matrix-multiply throughput, memory bandwidth of elementwise layers, and the fixed cost of one
layer call. Each figure is a forward and backward pass, as training runs them. A few seconds
on a CPU; the result is a plain JSON file in the user cache, keyed by device, threads and
torch version, read by the window without torch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch import nn

from app.core.cost import calibration_file

#: (C_in = C_out, kernel, side) of the convolutions timed: reduction depths C_in·k² from 16
#: (a 1×1 squeeze) to 4,608
#: The 3×3 ones follow a CNN's stages (width doubles as the side halves), as the presets do
CONV_CASES = ((16, 1, 32), (64, 1, 32), (16, 3, 32), (32, 3, 32), (64, 3, 32), (128, 3, 16),
              (256, 3, 8), (512, 3, 4))  # fmt: skip
BATCH = 32
#: seconds each figure is timed for at least, per round (the tests shorten them)
BUDGET_S = 0.12
ROUNDS = 2
WARM_S = 0.3  # seconds of convolutions first, so that the threads are awake


def _time(fn, device: torch.device, repeat: int = 5, budget_s: float | None = None) -> float:
    """Median seconds of ``fn`` over at least ``repeat`` calls and ``budget_s`` seconds
    (after a warm-up call): this machine's speed wanders, a median of many calls less."""
    fn()
    times: list[float] = []
    end = time.perf_counter() + (BUDGET_S if budget_s is None else budget_s)
    while len(times) < repeat or time.perf_counter() < end:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _train_step(module: nn.Module, x: torch.Tensor):
    def step() -> None:
        module.zero_grad(set_to_none=True)
        module(x).sum().backward()

    return step


def _rates(device: torch.device) -> dict:
    """One round of every figure (throughputs in FLOP/s or B/s, the call cost in seconds)."""
    conv = []
    for channels, k, side in CONV_CASES:
        m = nn.Conv2d(channels, channels, k, padding=k // 2, bias=False).to(device)
        x = torch.randn(BATCH, channels, side, side, device=device, requires_grad=True)
        macs = BATCH * channels * channels * k * k * side * side
        seconds = _time(_train_step(m, x), device)
        conv.append([channels * k * k, 3 * 2 * macs / seconds])
    narrow = []  # a few output channels use a wide reduction poorly: 64 → C_out, 3×3
    for cout in (64, 32, 16, 8):
        m = nn.Conv2d(64, cout, 3, padding=1, bias=False).to(device)
        x = torch.randn(BATCH, 64, 16, 16, device=device, requires_grad=True)
        narrow.append(
            [cout, 3 * 2 * BATCH * 64 * cout * 9 * 16 * 16 / _time(_train_step(m, x), device)]
        )
    lin = nn.Linear(1024, 1024).to(device)
    x = torch.randn(256, 1024, device=device, requires_grad=True)
    linear = 3 * 2 * 256 * 1024 * 1024 / _time(_train_step(lin, x), device)
    # 8 MiB: the size of a CIFAR network's activations at batch 32
    big = torch.randn(BATCH, 64, 32, 32, device=device, requires_grad=True)
    relu = nn.ReLU().to(device)
    # forward reads and writes the tensor, backward reads two and writes one: five passes
    bandwidth = 5 * big.numel() * 4 / _time(_train_step(relu, big), device)
    # pooling runs per output value, not at the bandwidth (on 2 CPU cores a 3×3 max-pool
    # took 18 ns a value, 7× what its traffic would): seconds per output value, 3×3 stride 1
    pool = {}
    for kind, module in (
        ("maxpool2d", nn.MaxPool2d(3, 1, 1)),
        ("avgpool2d", nn.AvgPool2d(3, 1, 1)),
    ):
        x = torch.randn(BATCH, 64, 32, 32, device=device, requires_grad=True)
        pool[kind] = _time(_train_step(module.to(device), x), device) / x.numel()
    tiny = torch.randn(2, 2, device=device, requires_grad=True)
    chain = nn.Sequential(*[nn.ReLU() for _ in range(50)]).to(device)
    overhead = _time(_train_step(chain, tiny), device, 9) / 50
    return {"conv": conv, "narrow": narrow, "linear_flops": linear, "bandwidth": bandwidth,
            "pool_s_per_out": pool, "overhead_s": overhead}  # fmt: skip


def measure(device: torch.device, rounds: int = ROUNDS) -> dict:
    """The device's figures: ``rounds`` rounds of every kernel, after a warm-up, each figure
    the best of its rounds (a round that another program slowed down is not the device's
    speed; the first kernels of a cold thread pool ran at a quarter of it here)."""
    warm = nn.Conv2d(64, 64, 3, padding=1).to(device)
    _time(_train_step(warm, torch.randn(BATCH, 64, 32, 32, device=device)), device, 1, WARM_S)
    found = [_rates(device) for _ in range(rounds)]
    best = found[0]
    for other in found[1:]:
        for key in ("conv", "narrow"):
            best[key] = [
                [a[0], max(a[1], b[1])] for a, b in zip(best[key], other[key], strict=True)
            ]
        for key in ("linear_flops", "bandwidth"):
            best[key] = max(best[key], other[key])
        best["overhead_s"] = min(best["overhead_s"], other["overhead_s"])
        pool = best["pool_s_per_out"]
        best["pool_s_per_out"] = {k: min(v, other["pool_s_per_out"][k]) for k, v in pool.items()}
    base = best["narrow"][0][1]
    best["narrow"] = [[c, min(1.0, f / base)] for c, f in best["narrow"]]
    memory = {}
    if device.type == "cuda":  # the window reads the GPU's memory from here (it has no torch)
        free, total = torch.cuda.mem_get_info(device)
        memory = {"memory_free": free, "memory_total": total}
    return {
        **memory,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **best,
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }


def calibration(device: torch.device, refresh: bool = False, path: Path | None = None) -> dict:
    """The device's figures from the cache, measured now when missing (or ``refresh``)."""
    path = path or calibration_file()
    key = f"{device}|{torch.get_num_threads()}|{torch.__version__}"
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if refresh or key not in cache:
        cache[key] = measure(device)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cache, indent=2), encoding="utf-8")
    return cache[key]
