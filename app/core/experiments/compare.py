"""Compare runs: which settings differ, what changed in the graph, and whether the metric
differences are larger than the seed spread. Runs with the same graph and the same settings
except the seed are one group (the repeats of one configuration): a group's metric is a mean
with its 95% interval, and each group is compared with the first by Welch's interval."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.experiments.runs import METRICS, RunRecord, epochs_to
from app.core.experiments.space import point_text, value_text
from app.core.experiments.stats import Difference, Interval, mean_interval, welch
from app.core.graph_diff import GraphDiff, diff_graphs
from app.core.serialization import to_json

__all__ = ["Comparison", "Group", "compare"]

#: settings that tell repeats apart without making them different configurations
_REPEAT_KEYS = ("seed",)


@dataclass(frozen=True)
class Group:
    """Runs of one configuration (the same graph, settings equal but for the seed)."""

    label: str
    runs: tuple[RunRecord, ...]
    values: dict[str, tuple[float, ...]]  # metric name → one value per run that has it
    epochs_to: tuple[int | None, ...]  # per run, epochs to the threshold (None: never)

    def interval(self, metric: str) -> Interval | None:
        values = self.values.get(metric, ())
        return mean_interval(values) if values else None


@dataclass(frozen=True)
class Comparison:
    runs: tuple[RunRecord, ...]
    settings: tuple[str, ...]  # every setting any run has, in the first run's order
    differing: frozenset[str]  # those whose values are not all equal
    diffs: tuple[GraphDiff | None, ...]  # each run's graph against the first run's
    groups: tuple[Group, ...]
    metric: str
    threshold: float

    def value(self, run: RunRecord, name: str) -> Any:
        return run.config.get(name)

    def differences(self) -> list[Difference | None]:
        """Each group's metric against the first group's (None for the first)."""
        base = self.groups[0].values.get(self.metric, ())
        out: list[Difference | None] = [None]
        for group in self.groups[1:]:
            values = group.values.get(self.metric, ())
            out.append(welch(base, values) if base and values else None)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per run: its label, group, differing settings, graph edits and metrics."""
        group_of = {id(r): g.label for g in self.groups for r in g.runs}
        out = []
        for run, diff in zip(self.runs, self.diffs, strict=True):
            row: dict[str, Any] = {
                "run": run.name,
                "group": group_of[id(run)],
                "outcome": run.outcome,
            }
            for name in self.settings:
                if name in self.differing:
                    row[name] = run.config.get(name)
            row["graph"] = "first run" if diff is None else diff.summary()
            row["epochs"] = len(run.epochs)
            for name in METRICS:
                row[name] = run.metric(name)
            row[f"epochs_to_{self.threshold:g}"] = epochs_to(run.epochs, self.threshold)
            out.append(row)
        return out

    def group_rows(self) -> list[dict[str, Any]]:
        """One row per group: runs, each metric's mean and interval half-width, epochs to the
        threshold, and the difference from the first group."""
        out = []
        for group, diff in zip(self.groups, self.differences(), strict=True):
            row: dict[str, Any] = {"group": group.label, "runs": len(group.runs)}
            for name in METRICS:
                iv = group.interval(name)
                row[f"{name}_mean"] = iv.mean if iv else None
                row[f"{name}_ci95"] = iv.half if iv else None
            reached = [e for e in group.epochs_to if e is not None]
            row[f"epochs_to_{self.threshold:g}_mean"] = (
                sum(reached) / len(reached) if len(reached) == len(group.epochs_to) else None
            )
            row[f"{self.metric}_vs_first"] = diff.delta if diff else None
            row[f"{self.metric}_vs_first_ci95"] = diff.half if diff else None
            row["beyond_seed_spread"] = diff.clear if diff else None
            out.append(row)
        return out

    def csv(self, groups: bool = False) -> str:
        rows = self.group_rows() if groups else self.rows()
        buffer = io.StringIO()
        names = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return buffer.getvalue()


def compare(
    runs: Sequence[RunRecord], metric: str = "best_val_acc", threshold: float = 0.8
) -> Comparison:
    """Compare runs in the order given (the first is the reference)."""
    if not runs:
        raise ValueError("nothing to compare: give at least one run")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    names = list(dict.fromkeys(k for run in runs for k in run.config))
    differing = frozenset(
        n for n in names if len({json.dumps(r.config.get(n), sort_keys=True) for r in runs}) > 1
    )
    first = runs[0].project
    diffs: list[GraphDiff | None] = [None]
    for run in runs[1:]:
        if first is None or run.project is None:
            diffs.append(None)
        else:
            diffs.append(diff_graphs(first.graph, run.project.graph))
    keyed: dict[str, list[RunRecord]] = {}
    for run in runs:
        keyed.setdefault(_configuration(run), []).append(run)
    groups = []
    for members in keyed.values():
        values = {
            name: tuple(v for v in (r.metric(name) for r in members) if v is not None)
            for name in METRICS
        }
        groups.append(
            Group(
                _group_label(members, differing, runs[0], diffs[runs.index(members[0])]),
                tuple(members),
                values,
                tuple(epochs_to(r.epochs, threshold) for r in members),
            )
        )
    return Comparison(
        tuple(runs), tuple(names), differing, tuple(diffs), tuple(groups), metric, threshold
    )


def _configuration(run: RunRecord) -> str:
    config = {k: v for k, v in run.config.items() if k not in _REPEAT_KEYS}
    graph = "" if run.project is None else _graph_key(run)
    return json.dumps(config, sort_keys=True) + graph


def _graph_key(run: RunRecord) -> str:
    data = json.loads(to_json(run.project))
    # positions and names do not change the network
    for node in data.get("nodes", ()):
        node.pop("position", None)
    return json.dumps({"nodes": data.get("nodes"), "edges": data.get("edges")}, sort_keys=True)


def _group_label(
    members: list[RunRecord], differing: frozenset[str], first: RunRecord, diff: GraphDiff | None
) -> str:
    point = members[0].experiment.get("point")
    if isinstance(point, dict):  # a sweep's point names the configuration (not its seed)
        point = {k: v for k, v in point.items() if k not in _REPEAT_KEYS}
        if point:
            return point_text(point)
    config = members[0].config
    keys = [k for k in sorted(differing) if k not in _REPEAT_KEYS]
    parts = [f"{k}={value_text(config.get(k))}" for k in keys]
    if diff is not None and not diff.empty:
        parts.append(diff.summary())
    if not parts:
        return "reference" if members[0] is first else "same as the reference"
    return ", ".join(parts)
