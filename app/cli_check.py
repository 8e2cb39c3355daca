"""``main.py check``: the shape report (per-layer table, totals, problems, ``--json``) and the
pre-flight figures of a training run (issue 21): the step's memory at a batch size, the
largest batch the device holds, and the time per step from the device's calibration."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from app.cli import SourceError, open_source

if TYPE_CHECKING:
    from app.core.serialization import Project
    from app.core.shapes import ShapeReport

__all__ = ["add_check_parser", "cmd_check", "human", "print_report", "report_dict"]


def human(n: float) -> str:
    """1234567 → '1.23 M' (K, M, G units), for MAC counts."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}" if n / scale < 100 else f"{n / scale:.0f} {unit}"
    return str(int(n))


def _fmt_shape(shape: tuple[int, ...] | None) -> str:
    from blocks import shape_text

    return shape_text(shape) if shape is not None else "—"


def report_dict(project: Project, report: ShapeReport, source: str) -> dict:
    """The facts of a check as plain JSON-ready data."""
    g = project.graph
    return {
        "source": source,
        "ok": report.ok,
        "input_shape": list(report.nodes[report.input_id].shape or ()) if report.input_id else None,
        "output_shape": list(report.output_shape) if report.output_shape else None,
        "nodes": [
            {
                "id": nid,
                "block": g.nodes[nid].type_id,
                "output_shape": list(info.shape) if info.shape is not None else None,
                "params": info.params,
                "macs": info.macs,
                "memory_bytes": info.memory,
                "receptive_field": info.receptive_field,
                "depth": info.depth,
            }
            for nid, info in ((n, report.nodes[n]) for n in report.order)
        ],
        "totals": {
            "params": report.total_params,
            "macs": report.total_macs,
            "memory_bytes": report.total_memory,
            "layers": report.depth,
        },
        "errors": [_problem(p) for p in report.errors],
        "warnings": [_problem(p) for p in report.warnings],
    }


def _problem(p: object) -> dict:
    return {"node": p.node_id, "code": p.code, "message": p.message}  # type: ignore[attr-defined]


def print_report(
    project: Project, report: ShapeReport, source: str, out: TextIO, preflight=None
) -> None:
    from app.core.cost import bytes_text

    g = project.graph
    blocks = g.registry
    costs = preflight.cost.nodes if preflight is not None else {}
    rows = [("name", "block", "output", "params", "MACs", "RF", "train mem" if costs else "")]
    for nid in report.order:
        info = report.nodes[nid]
        rf = info.receptive_field
        rows.append(
            (
                nid,
                blocks.get(g.nodes[nid].type_id).title,
                _fmt_shape(info.shape),
                f"{info.params:,}",
                f"{info.macs:,}",
                str(rf) if rf else "",
                bytes_text(costs[nid].total) if nid in costs else "",
            )
        )
    total = bytes_text(preflight.cost.peak) if costs else ""
    rows.append(("total", "", "", f"{report.total_params:,}", f"{report.total_macs:,}", "", total))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    title = f"{project.name or source}"
    print(f"{title}: {len(report.order)} nodes", file=out)
    for i, row in enumerate(rows):
        if i in (1, len(rows) - 1):
            print("  ".join("-" * w for w in widths), file=out)
        cells = [
            c.ljust(w) if j < 3 else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)
    mem = report.total_memory / 2**20
    work = f"MACs: {human(report.total_macs)}"
    print(
        f"counted layers (conv + linear): {report.depth}   activations: {mem:.2f} MiB per "
        f"sample (float32)   {work}",
        file=out,
    )
    if preflight is not None:
        for line in preflight.lines():
            print(line, file=out)
    for p in report.problems:
        print(f"{p.severity}: {p.message}", file=out)
    verdict = "OK" if report.ok else "FAILED"
    print(f"{verdict}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)", file=out)


def cmd_check(args: argparse.Namespace) -> int:
    from app.core.shapes import check

    try:
        project = open_source(args.source)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = check(project.graph)
    try:
        preflight = _preflight(project, report, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        facts = report_dict(project, report, args.source)
        if preflight is not None:
            facts["training"] = preflight.facts()
            for row in facts["nodes"]:
                row["training_bytes"] = preflight.cost.nodes[row["id"]].total
        json.dump(facts, sys.stdout, indent=2)
        print()
    else:
        print_report(project, report, args.source, sys.stdout, preflight)
    return 0 if report.ok else 1


class Preflight:
    """What ``check`` adds about a training run: the step's memory at the batch size, and the
    largest batch the device's free memory holds."""

    def __init__(self, cost, device: str, available: int | None, largest: int | None) -> None:
        self.cost, self.device, self.available, self.largest = cost, device, available, largest
        self.step_s: float | None = None  # predicted seconds a step (with a calibration)
        self.steps: int | None = None  # steps an epoch
        self.calibrated = ""
        self.inference: int | None = None  # bytes of a forward pass without gradients

    def lines(self) -> list[str]:
        from app.core.cost import bytes_text, cost_text

        out = [cost_text(self.cost)]
        if self.inference is not None:
            out.append(f"inference at batch {self.cost.batch}: ≈ {bytes_text(self.inference)}")
        if self.available is not None and self.largest is not None:
            verdict = (
                "fits" if self.largest >= self.cost.batch
                else f"does NOT fit: use batch {self.largest} or less"
            )  # fmt: skip
            out.append(
                f"largest batch on {self.device} ({bytes_text(self.available)} free): "
                f"{self.largest:,}; batch {self.cost.batch} {verdict}"
            )
        if self.step_s is not None:
            line = f"time per step on {self.device}: ≈ {_duration(self.step_s)}"
            if self.steps:
                line += (
                    f", per epoch of {self.steps:,} steps ≈ {_duration(self.step_s * self.steps)}"
                )
            out.append(f"{line} (device speed measured {self.calibrated})")
        else:
            out.append(f"time per step: add --calibrate to measure {self.device}'s speed once")
        return out

    def facts(self) -> dict:
        c = self.cost
        return {
            "batch_size": c.batch, "optimizer": c.optimizer, "amp": c.amp,
            "device": self.device, "weights_bytes": c.weights, "gradients_bytes": c.gradients,
            "optimizer_bytes": c.optimizer_state, "saved_for_backward_bytes": c.saved,
            "data_bytes": c.data, "peak_bytes": c.peak, "available_bytes": self.available,
            "largest_batch": self.largest, "step_seconds": self.step_s,
            "inference_bytes": self.inference,
            "steps_per_epoch": self.steps,
        }  # fmt: skip


def _preflight(project: Project, report: ShapeReport, args: argparse.Namespace):
    """The pre-flight figures for the project's settings and the flags (None with errors)."""
    from app.core.cost import available_memory, profile
    from app.core.training.config import ConfigError, TrainConfig

    if not report.ok:
        return None
    try:
        config = TrainConfig.from_dict(project.training)
    except ConfigError:
        config = TrainConfig()
    changes = {
        k: v
        for k, v in (
            ("batch_size", args.batch_size), ("optimizer", args.optimizer), ("amp", args.amp),
        )
        if v is not None
    }  # fmt: skip
    try:
        config = config.replace(**changes)
    except ConfigError as exc:
        raise ValueError("; ".join(exc.problems)) from None
    device, available = "cpu", available_memory()
    if args.device and args.device != "cpu":  # asks torch which device, and its free memory
        import torch

        from app.core.training.engine import resolve_device

        resolved = resolve_device(args.device)
        device = str(resolved)
        if resolved.type == "cuda":
            available = torch.cuda.mem_get_info(resolved)[0]
    found = profile(
        project.graph, report, optimizer=config.optimizer, momentum=config.momentum,
        amsgrad=config.amsgrad, amp=config.amp, device=device,
    )  # fmt: skip
    if found is None:
        return None
    largest = found.largest_batch(available) if available is not None else None
    flight = Preflight(found.at(config.batch_size), device, available, largest)
    flight.inference = found.inference(config.batch_size)
    from app.core.cost import cached_calibration, step_seconds
    from app.core.training.config import planned_steps_per_epoch

    kind = device.split(":")[0]
    speed = cached_calibration(kind)
    if args.calibrate:
        import torch

        from app.core.training.calibrate import calibration

        speed = calibration(torch.device(device), refresh=True)
    if speed is not None:
        flight.step_s = step_seconds(
            project.graph, report, config.batch_size, speed, config.optimizer, config.momentum,
            config.amsgrad,
        )  # fmt: skip
        flight.steps = planned_steps_per_epoch(config)
        flight.calibrated = speed.get("measured", "")
    return flight


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def add_check_parser(sub) -> None:
    p_check = sub.add_parser("check", help="check shapes and print the per-layer summary")
    p_check.add_argument("source", help="a project file, or presets:NAME")
    p_check.add_argument("--json", action="store_true", help="print the facts as JSON")
    p_check.add_argument(
        "--batch-size", type=int, help="training memory at this batch [default: the project's]"
    )
    p_check.add_argument("--optimizer", help="sgd, adam, adamw, rmsprop, adagrad")
    p_check.add_argument("--amp", choices=("none", "bf16", "fp16"), help="mixed precision")
    p_check.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        help="whose free memory bounds the batch (auto/cuda load torch) [default: cpu RAM]",
    )
    p_check.add_argument(
        "--calibrate",
        action="store_true",
        help="measure the device's speed now (seconds; cached) for the time per step",
    )
    p_check.set_defaults(func=cmd_check)
