"""Time per check of the agree probe, on this machine's CPU, in a real TensorFlow environment.

    python benchmarks/agree.py [--tf 2.17.0] [--runs 3] [--quick]

Runs ``probes/agree.py`` ``--runs`` times through the suite's own runner (``--quick``: once) and
prints, per named check, the median of its own seconds over the runs (every device and mode of
it; the Keras fit's includes its float64 reference fit), the reference workload of matmul, conv2d,
batch norm, softmax, Adam and the SGD CNN, the probe's own work (after ``import tensorflow``) and
the whole run. Importable: ``measure(interpreter, runs)`` returns the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _util import PYTHON, tf_environment, tf_options

from tfcompat.verify.runner import probe_script, run_probe

#: The issue's budget for every check together on this machine's CPU.
BUDGET_SECONDS = 30.0


def measure(interpreter: Path, runs: int) -> dict[str, list[float]]:
    """Seconds per run: each named check (its devices and modes summed), ``reference workload``,
    ``own work`` and ``whole run``."""
    figures: dict[str, list[float]] = {}
    for _ in range(runs):
        run = run_probe(interpreter, probe_script("agree"), [], timeout=300)
        if run.result is None or run.returncode != 0:
            sys.exit(f"agree did not finish: {run.stderr_tail[-2000:]}")
        per_check: dict[str, float] = {}
        for check in run.result["checks"]:
            per_check[check["check"]] = per_check.get(check["check"], 0.0) + check["seconds"]
        for name, seconds in per_check.items():
            figures.setdefault(name, []).append(seconds)
        figures.setdefault("reference workload", []).append(run.result["workload_seconds"])
        figures.setdefault("own work", []).append(run.result["seconds"])
        figures.setdefault("whole run", []).append(run.seconds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tf_options(parser, runs=3)
    parser.add_argument("--quick", action="store_true", help="one run")
    args = parser.parse_args()
    runs = 1 if args.quick else max(1, args.runs)
    interpreter = tf_environment(args.tf).python
    figures = measure(interpreter, runs)
    checks = [name for name in figures if name not in ("reference workload", "own work", "whole run")]
    print(f"tensorflow-cpu {args.tf}, Python {PYTHON}, CPU:0 only, {runs} run(s), median seconds:")
    for name in checks + ["reference workload"]:
        print(f"  {name:<24} {statistics.median(figures[name]):6.3f}   (max {max(figures[name]):.3f})")
    total = sum(statistics.median(figures[name]) for name in checks)
    print(f"  {'named checks together':<24} {total:6.3f}   (budget {BUDGET_SECONDS:g} s)")
    print(f"  {'own work (after import)':<24} {statistics.median(figures['own work']):6.3f}")
    print(f"  {'whole run (with import)':<24} {statistics.median(figures['whole run']):6.3f}")


if __name__ == "__main__":
    main()
