"""The GPU proof (issue 22): one headless command that measures what the mission claims on a
CUDA device and writes one report (text and JSON), needing only torch, torchvision, numpy,
networkx and pytest (a missing platformdirs is stood in for). Each section runs on its own:
a failure is written into the report and the next section goes on.

1. the CUDA-only tests (host syncs per report for amp none/bf16/fp16, the pre-flight peak
   within 15% of max_memory_allocated);
2. the engine against a hand-written loop, same model, data resident on the device: LeNet-5
   and CIFAR ResNet-18 in fp32, bf16 and channels_last, with torch.compile on the GPU
   (goal: engine ≥ 0.97 of the hand loop);
3. the training process the window uses (ProcessRun), read by a Qt-free consumer, against
   the hand loop (goal ≥ 0.97);
4. ResNet-50 at 224 (batch 256, fp32 and bf16): images/s and the GPU's busy share;
5. peak memory per CIFAR preset against the pre-flight prediction.

CPU mode (``--device cpu --quick``) runs every section small, in under a minute, in CI.
Usage: python bench/gpu_check.py [--device cuda|cpu] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
try:  # the device machines have no pip: a stand-in for the three folders NetBuilder asks for
    import platformdirs  # noqa: F401
except ImportError:
    shim = types.ModuleType("platformdirs")
    home = Path(tempfile.gettempdir()) / "netbuilder-home"
    shim.user_data_dir = lambda *a, **k: str(home / "data")
    shim.user_cache_dir = lambda *a, **k: str(home / "cache")
    shim.user_log_dir = lambda *a, **k: str(home / "log")
    shim.user_config_dir = lambda *a, **k: str(home / "config")
    sys.modules["platformdirs"] = shim

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import presets  # noqa: E402
from app.core.compiler import compile_graph  # noqa: E402
from app.core.cost import training_cost  # noqa: E402
from app.core.serialization import to_json  # noqa: E402
from app.core.shapes import check  # noqa: E402
from app.core.training.config import TrainConfig  # noqa: E402
from app.core.training.engine import Trainer  # noqa: E402
from app.core.training.events import EpochReport, RunFailed  # noqa: E402
from app.core.training.portable.shapes import make_shapes  # noqa: E402
from app.core.training.session import ProcessRun  # noqa: E402

REPORT: dict = {"sections": {}}
LINES: list[str] = []


def say(text: str) -> None:
    print(text, flush=True)
    LINES.append(text)


def section(name: str):
    def wrap(fn):
        def run(*args, **kwargs):
            say(f"\n== {name}")
            start = time.perf_counter()
            try:
                REPORT["sections"][name] = fn(*args, **kwargs)
            except Exception as exc:  # the report says what broke; the next section runs
                REPORT["sections"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                say(f"FAILED: {type(exc).__name__}: {exc}")
                say(traceback.format_exc(limit=6))
            say(f"({time.perf_counter() - start:.1f} s)")

        return run

    return wrap


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hand_loop(preset: str, device: torch.device, batch: int, steps: int, *, amp: str = "none",
              channels_last: bool = False, compile: bool = False) -> float:  # fmt: skip
    """Images/s of the plainest correct loop on the compiled graph, data on the device."""
    graph = presets.get(preset).build()
    report = check(graph)
    shape = report.nodes[report.input_id].shape
    torch.manual_seed(0)
    x, y = make_shapes(batch * 4, shape[1], shape[0], seed=1)
    x = ((x - x.mean()) / x.std()).to(device)
    y = y.to(device)
    model = compile_graph(graph, report).to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if compile else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)

    def step(i: int) -> torch.Tensor:
        xb, yb = x[(i % 4) * batch : (i % 4 + 1) * batch], y[(i % 4) * batch : (i % 4 + 1) * batch]
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(forward(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for i in range(3):  # warm-up (and compilation)
        step(i)
    sync(device)
    start = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    loss.item()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def engine(preset: str, device: torch.device, batch: int, steps: int, **options) -> float:
    dataset = "shapes_gray" if preset == "lenet5" else "shapes"
    config = TrainConfig.from_dict({
        "dataset": dataset, "train_size": batch * (steps + 3), "val_size": 10,
        "batch_size": batch, "epochs": 1, "lr": 0.01, "report_every": 20,
        "device": device.type, **options,
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as runs:
        for event in Trainer(presets.get(preset).build(), config, runs_root=Path(runs)).run():
            if isinstance(event, EpochReport):
                return event.images_per_sec
            if isinstance(event, RunFailed):
                raise RuntimeError(event.message)
    raise RuntimeError("the run did not finish")


@section("CUDA-only tests (pytest)")
def cuda_tests(device: torch.device, quick: bool) -> dict:
    selection = ["tests/training/test_host_sync.py", "tests/core/test_cost.py", "-k", "cuda"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         *selection],
        cwd=ROOT, capture_output=True, text=True, timeout=420,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    say(tail)
    if proc.returncode not in (0, 5):
        say(proc.stdout[-3000:])
    return {"exit": proc.returncode, "summary": tail}


@section("engine vs hand-written loop (data on the device)")
def engine_vs_hand(device: torch.device, quick: bool) -> dict:
    cases = [("lenet5", 256, {}), ("resnet18_cifar", 128, {}),
             ("resnet18_cifar", 128, {"amp": "bf16"}),
             ("resnet18_cifar", 128, {"channels_last": True})]  # fmt: skip
    if device.type == "cuda":
        cases.append(("resnet18_cifar", 128, {"amp": "bf16", "compile": True}))
    if quick:
        cases = [("lenet5", 32, {}), ("resnet18_cifar", 8, {"amp": "bf16"})]
    steps = 4 if quick else 60
    out = {}
    for preset, batch, options in cases:
        hand, eng = [], []
        for _ in range(1 if quick else 3):  # interleaved: the machine's speed wanders
            hand.append(hand_loop(preset, device, batch, steps, **options))
            eng.append(engine(preset, device, batch, steps, **options))
        h, e = statistics.median(hand), statistics.median(eng)
        name = f"{preset} b{batch} " + (" ".join(f"{k}={v}" for k, v in options.items()) or "fp32")
        say(f"{name:<44} hand {h:10,.0f} img/s   engine {e:10,.0f} img/s   {e / h:.3f} (≥ 0.97)")
        out[name] = {"hand": h, "engine": e, "ratio": e / h}
    return out


@section("the window's training process vs the hand loop")
def process_path(device: torch.device, quick: bool) -> dict:
    batch, steps = (32, 4) if quick else (256, 200)
    config = TrainConfig.from_dict({
        "dataset": "shapes_gray", "train_size": batch * (steps + 3), "val_size": 10,
        "batch_size": batch, "epochs": 1, "lr": 0.01, "report_every": 20,
        "device": device.type,
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as runs:
        handle = ProcessRun(to_json(presets.get("lenet5").project()), config,
                            runs_root=Path(runs))  # fmt: skip
        handle.start()
        rate, records = None, 0
        while (batch_records := handle.get(timeout=1.0)) is not None:
            for record in batch_records:  # what the window's worker does, without Qt
                records += 1
                if isinstance(record, EpochReport):
                    rate = record.images_per_sec
                if isinstance(record, RunFailed):
                    raise RuntimeError(record.message)
        handle.join(30)
    hand = hand_loop("lenet5", device, batch, steps)
    say(f"LeNet-5 b{batch}: process {rate:,.0f} img/s, hand loop {hand:,.0f} img/s, "
        f"{rate / hand:.3f} (≥ 0.97); {records} records read")  # fmt: skip
    return {"process": rate, "hand": hand, "ratio": rate / hand, "records": records}


@section("ResNet-50 at 224, batch 256")
def resnet50(device: torch.device, quick: bool) -> dict:
    if device.type != "cuda" or quick:
        say("skipped (GPU only)")
        return {"skipped": True}
    out = {}
    for amp in ("none", "bf16"):
        graph = presets.get("resnet50").build()
        report = check(graph)
        model = compile_graph(graph, report).to(device).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(256, 3, 224, 224, device=device)
        y = torch.randint(0, 1000, (256,), device=device)
        dtype = torch.bfloat16 if amp == "bf16" else None
        torch.cuda.reset_peak_memory_stats(device)
        start_evt, end_evt = (
            torch.cuda.Event(enable_timing=True),
            torch.cuda.Event(enable_timing=True),
        )
        for i in range(13):
            if i == 3:
                sync(device)
                wall = time.perf_counter()
                start_evt.record()
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        end_evt.record()
        sync(device)
        seconds = time.perf_counter() - wall
        busy = start_evt.elapsed_time(end_evt) / 1e3 / seconds
        rate = 256 * 10 / seconds
        peak = torch.cuda.max_memory_allocated(device)
        predicted = training_cost(graph, report, 256, amp=amp, device="cuda").peak
        say(f"amp {amp:<5} {rate:8,.0f} img/s  GPU busy {busy:.0%}  peak {peak / 2**30:.2f} GiB "
            f"(predicted {predicted / 2**30:.2f}, {predicted / peak:.2f}×)")  # fmt: skip
        out[amp] = {"images_per_sec": rate, "busy": busy, "peak": peak, "predicted": predicted}
        del model, opt, x
        torch.cuda.empty_cache()
    return out


@section("peak memory per preset vs the pre-flight prediction")
def peaks(device: torch.device, quick: bool) -> dict:
    names = ["lenet5", "resnet18_cifar"] if quick else [
        "lenet5", "mlp", "alexnet_cifar", "vgg_cifar", "nin_cifar", "squeezenet_cifar",
        "resnet18_cifar", "preact_resnet18_cifar", "se_resnet18_cifar", "googlenet_cifar",
        "resnet50_cifar"]  # fmt: skip
    out = {}
    for name in names:
        graph = presets.get(name).build()
        report = check(graph)
        batch = 32
        predicted = training_cost(graph, report, batch, device=device.type)
        if device.type != "cuda":  # no allocator statistics: the saved bytes on meta instead
            from app.core.training.memory import saved_for_backward

            model = compile_graph(graph, report).to("meta").train()
            shape = report.nodes[report.input_id].shape
            x = torch.randn(batch, *shape, device="meta")
            y = torch.zeros(batch, dtype=torch.long, device="meta")
            real = saved_for_backward(model, x, y)
            say(f"{name:<24} saved for backward: predicted {predicted.saved:,} real {real:,}")
            out[name] = {"predicted_saved": predicted.saved, "saved": real}
            continue
        model = compile_graph(graph, report).to(device).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(batch, *report.nodes[report.input_id].shape, device=device)
        y = torch.randint(0, 2, (batch,), device=device)
        for _ in range(2):
            torch.cuda.reset_peak_memory_stats(device)
            opt.zero_grad(set_to_none=False)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        real = torch.cuda.max_memory_allocated(device)
        say(f"{name:<24} peak {real / 2**20:9.1f} MiB predicted {predicted.peak / 2**20:9.1f} "
            f"MiB  {predicted.peak / real:.2f}× (goal within 15%)")  # fmt: skip
        out[name] = {"peak": real, "predicted": predicted.peak}
        del model, opt, x
        torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="small sizes (CI's CPU mode)")
    parser.add_argument("--out", default=os.environ.get("OUT", "gpu_check_out"))
    args = parser.parse_args()
    name = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = torch.device("cpu" if name == "auto" else name)
    os.environ.setdefault("NETBUILDER_RUNS_DIR", tempfile.mkdtemp(prefix="gpu-check-runs-"))
    if device.type == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    REPORT["environment"] = {
        "torch": torch.__version__, "device": str(device), "python": sys.version.split()[0],
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick,
    }  # fmt: skip
    say(f"gpu_check on {device} ({REPORT['environment']['gpu'] or 'CPU'}), torch "
        f"{torch.__version__}, {REPORT['environment']['date']}")  # fmt: skip
    if args.quick:
        say("quick: every section at tiny sizes, so that it runs; its ratios mean nothing")
    start = time.perf_counter()
    for run in (cuda_tests, engine_vs_hand, process_path, resnet50, peaks):
        run(device, args.quick)
    say(f"\nall sections: {time.perf_counter() - start:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (out / "gpu_check.json").write_text(json.dumps(REPORT, indent=2, default=str), encoding="utf-8")
    failed = [k for k, v in REPORT["sections"].items() if isinstance(v, dict) and "error" in v]
    say(f"report: {out / 'gpu_check.txt'}; {len(failed)} section(s) failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
