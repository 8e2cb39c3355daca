"""Per-module summary of the last mutmut run: generated, killed, survived, and which of the
survivors docs/mutation.md lists as equivalent (with its reason), so that 'survived, real'
is what still needs a test.

    python scripts/mutation_report.py [--list]    # --list: name every real survivor
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def equivalent() -> set[str]:
    """Mutant names that docs/mutation.md lists as equivalent (``- `name`: reason``)."""
    text = (ROOT / "docs" / "mutation.md").read_text(encoding="utf-8")
    section = text.split("## Equivalent mutants", 1)[-1]
    return set(re.findall(r"^- `([^`]+)`", section, flags=re.M))


def results() -> dict[str, str]:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mutmut"), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = {}
    for line in proc.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            out[name] = status
    return out


def module_of(name: str) -> str:
    """``app.core.shapes.x_check__mutmut_3`` → ``app.core.shapes``."""
    return re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]


def main() -> None:
    known = equivalent()
    counts: dict[str, Counter] = defaultdict(Counter)
    real: dict[str, list[str]] = defaultdict(list)
    for name, status in results().items():
        module = module_of(name)
        counts[module]["generated"] += 1
        if status == "survived":
            kind = "survived, equivalent" if name in known else "survived, real"
            counts[module][kind] += 1
            if name not in known:
                real[module].append(name)
        else:
            counts[module][status] += 1
    columns = ["generated", "killed", "survived, equivalent", "survived, real"]
    others = sorted({k for c in counts.values() for k in c} - set(columns))
    print("| module | " + " | ".join(columns + others) + " |")
    print("|---|" + "---:|" * len(columns + others))
    for module in sorted(counts):
        row = [str(counts[module][k]) for k in columns + others]
        print(f"| {module} | " + " | ".join(row) + " |")
    if "--list" in sys.argv:
        for module in sorted(real):
            print(f"\n{module}:")
            for name in real[module]:
                print(f"  {name}")


if __name__ == "__main__":
    main()
