"""Every preset trains with its own settings: ``main.py train presets:ID --epochs 1`` and the
exported ``train.py`` (one epoch), each timed; prints a table (issue 14's "done when").

    python scripts/check_presets.py [--timeout 120] [ID ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], cwd: Path, timeout: float) -> tuple[str, float, str]:
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
    return f"rc {done.returncode}", time.perf_counter() - start, last[0][:90]


def main() -> None:
    import presets
    from app.core.serialization import save

    parser = argparse.ArgumentParser()
    parser.add_argument("ids", nargs="*")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    print(f"{'preset':24} {'train --epochs 1':>22} {'exported train.py':>22}")
    for name in args.ids or presets.names():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            cli = timed(
                [sys.executable, "main.py", "train", f"presets:{name}", "--epochs", "1",
                 "--runs", str(folder / "runs")],
                ROOT, args.timeout,
            )  # fmt: skip
            project = presets.get(name).project()
            project.training = {**project.training, "epochs": 1}
            save(project, folder / "p.json")
            out = folder / "export"
            export = timed(
                [sys.executable, "main.py", "export", str(folder / "p.json"), "--format",
                 "train", "-o", str(out)],
                ROOT, args.timeout,
            )  # fmt: skip
            script = (
                timed([sys.executable, "train.py"], out, args.timeout)
                if export[0] == "rc 0"
                else export
            )
        row = [f"{r[0]} {r[1]:6.1f} s" for r in (cli, script)]
        print(f"{name:24} {row[0]:>22} {row[1]:>22}", flush=True)
        for r in (cli, script):
            if r[0] != "rc 0":
                print(f"    {r[2]}", flush=True)
    print(json.dumps({"timeout_s": args.timeout}))


if __name__ == "__main__":
    main()
