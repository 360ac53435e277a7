"""How fast the speed-up probe says "no GPU here", and what it used to cost to say it.

    python benchmarks/speedup_null.py [--tf 2.17.0] [--runs 5] [--old]

Runs ``probes/speedup.py`` (Apple's model, ResNet50, batch 64) in a real TensorFlow environment
of this machine, which lists no GPU, ``--runs`` times through the suite's own runner. Prints the
probe's own work (everything after ``import tensorflow``, which the probe times itself and
records as ``seconds``) and the whole run (interpreter start and TensorFlow's import included).
``--old`` also times what the probe did before it skipped: the CPU's steps per second, measured
for a speed-up that is null without a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tfcompat.core.matrix import Row  # noqa: E402
from tfcompat.verify.provision import provision  # noqa: E402
from tfcompat.verify.runner import probe_script, run_probe  # noqa: E402

#: What the probe did without a GPU before it skipped: time the CPU alone (its default model).
_OLD = """
import sys, time; sys.path.insert(0, "probes")
import speedup, tensorflow as tf
started = time.perf_counter()
speedup.steps_per_second(tf, "/CPU:0", speedup.parse_args([]))
print(round(time.perf_counter() - started, 3))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", default="2.17.0", help="tensorflow-cpu release")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old", action="store_true", help="also time the CPU measurement it no longer makes")
    args = parser.parse_args()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    row = Row(number=1, python=python, tf=args.tf, metal="none", supports=None)
    interpreter = provision(row, timeout=900, log=lambda _: None).python
    own, whole = [], []
    for _ in range(args.runs):
        run = run_probe(interpreter, probe_script("speedup"), [], timeout=300)
        if run.result is None or "skipped" not in run.result:
            sys.exit(f"speedup did not skip: {run.stderr_tail[-2000:]}")
        own.append(run.result["seconds"])
        whole.append(run.seconds)
    print(f"tensorflow-cpu {args.tf}, Python {python}, no GPU listed, {args.runs} runs (seconds):")
    print(f"  the probe's own work (after import): median {statistics.median(own):.3f}, max {max(own):.3f}")
    print(f"  whole run (interpreter start and TF import included): median {statistics.median(whole):.2f}")
    print(f"  result: {json.dumps(run.result)}")
    if args.old:
        started = time.monotonic()
        done = subprocess.run(
            [str(interpreter), "-c", _OLD], capture_output=True, text=True, cwd=ROOT, timeout=900, check=True
        )
        print(
            f"  before: timing the CPU for a null speed-up took {float(done.stdout.split()[-1]):.1f} s "
            f"of its own work ({time.monotonic() - started:.1f} s in all)"
        )


if __name__ == "__main__":
    main()
