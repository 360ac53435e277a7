"""The doctor's warm time to the diagnosis: ``python -m tfcompat.doctor ENV`` end to end.

    python benchmarks/doctor.py ENV [ENV ...] [--runs 5] [--quick]

Each ENV (an interpreter or a virtual environment's folder) is diagnosed ``--runs`` times in a
fresh process, as a user runs it (``python -m tfcompat.doctor ENV --probes no``: the Mac-only
probes are not part of the figure); the first run warms the map's caches and is reported apart.
Prints the median and the slowest warm run, the exit code, and the first line of the verdict.
The issue's goal: 3 s or less warm. ``--quick`` (the smoke run CI makes): one warm run, and
this interpreter when no ENV is named.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from _util import ROOT, stopwatch


def run(env: str) -> tuple[float, int, str]:
    """Seconds, exit code and last line of one diagnosis in a fresh process."""
    with stopwatch() as took:
        done = subprocess.run(
            [sys.executable, "-m", "tfcompat.doctor", env, "--probes", "no"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return took["wall"], done.returncode, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", nargs="*", help="interpreters or virtual environments' folders")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per environment (default 5)")
    parser.add_argument("--quick", action="store_true", help="one warm run; this interpreter by default")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.envs = 1, args.envs or [sys.executable]
    if not args.envs:
        parser.error("name at least one ENV (or --quick)")
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
