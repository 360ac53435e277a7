"""The doctor's warm time to the diagnosis: ``python -m tfcompat.doctor ENV`` end to end.

    python benchmarks/doctor.py ENV [ENV ...] [--runs 5]

Each ENV (an interpreter or a virtual environment's folder) is diagnosed ``--runs`` times in a
fresh process, as a user runs it (``python -m tfcompat.doctor ENV --probes no``: the Mac-only
probes are not part of the figure); the first run warms the map's caches and is reported apart.
Prints the median and the slowest warm run, the exit code, and the first line of the verdict.
The issue's goal: 3 s or less warm.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(env: str) -> tuple[float, int, str]:
    """Seconds, exit code and last line of one diagnosis in a fresh process."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tfcompat.doctor", env, "--probes", "no"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    seconds = time.monotonic() - started
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return seconds, done.returncode, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", nargs="+", help="interpreters or virtual environments' folders")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per environment (default 5)")
    args = parser.parse_args()
    print("| environment | first run | warm median | warm slowest | exit | verdict |")
    print("|---|---|---|---|---|---|")
    for env in args.envs:
        first, code, last = run(env)
        warm = [run(env)[0] for _ in range(args.runs)]
        print(
            f"| {env} | {first:.2f} s | {statistics.median(warm):.2f} s | {max(warm):.2f} s | {code} "
            f"| {last[:90]} |"
        )


if __name__ == "__main__":
    main()
