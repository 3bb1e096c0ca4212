"""How long ``llmops`` commands take to start: wall and CPU time of whole processes.

    .venv/bin/python bench/cli_start.py [--repeat 5] [--json]

Each command runs as a fresh process (``python -m llmops.cli ...``, what the ``llmops`` entry
point runs) against a migrated store in a temporary ``LLMOPS_HOME``, ``--repeat`` times; the
first run is reported on its own ("cold": nothing of this process is in Python's caches, the
files are in the OS page cache after the warm-up import) and the median of the rest. CPU is
the child's user + system time (``resource.getrusage(RUSAGE_CHILDREN)``), which is what a cron
job or CI step pays.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "traces list": ["traces", "list", "--limit", "5"],
    "guard check": ["guard", "check", "my email is ana@example.com"],
    # eight words or more: the input guard's learned injection detector embeds the text
    # (onnxruntime and the MiniLM model load)
    "guard check long": [
        "guard",
        "check",
        "how do I roll back a canary release when the error rate rises",
    ],
    "monitor check": ["monitor", "check"],
}


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system of the child) and exit code of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "llmops.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):  # monitor check exits 1 when an alert fires
        raise SystemExit(f"llmops {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return wall, cpu, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5, help="runs per command (first is cold)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="llmops-bench-cli-"))
    env = {
        **os.environ,
        "LLMOPS_HOME": str(home),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    run(["db", "upgrade"], env)  # the store exists, as on a deployed machine

    result: dict[str, dict[str, float]] = {}
    for name, cmd in COMMANDS.items():
        runs = [run(cmd, env) for _ in range(max(2, args.repeat))]
        warm = runs[1:]
        result[name] = {
            "cold_wall_s": round(runs[0][0], 3),
            "cold_cpu_s": round(runs[0][1], 3),
            "wall_s": round(statistics.median(r[0] for r in warm), 3),
            "cpu_s": round(statistics.median(r[1] for r in warm), 3),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'command':<18}{'cold wall':>10}{'cold cpu':>10}{'wall':>8}{'cpu':>8}  (seconds)")
    for name, r in result.items():
        print(
            f"{name:<18}{r['cold_wall_s']:>10.2f}{r['cold_cpu_s']:>10.2f}"
            f"{r['wall_s']:>8.2f}{r['cpu_s']:>8.2f}"
        )


if __name__ == "__main__":
    main()
