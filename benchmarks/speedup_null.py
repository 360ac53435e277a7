"""How fast the speed-up probe says "no GPU here", and what it used to cost to say it.

    python benchmarks/speedup_null.py [--tf 2.17.0] [--runs 5] [--old] [--quick]

Runs ``probes/speedup.py`` (Apple's model, ResNet50, batch 64) in a real TensorFlow environment
of this machine, which lists no GPU, ``--runs`` times through the suite's own runner. Prints the
probe's own work (everything after ``import tensorflow``, which the probe times itself and
records as ``seconds``) and the whole run (interpreter start and TensorFlow's import included).
``--old`` also times what the probe did before it skipped: the CPU's steps per second, measured
for a speed-up that is null without a GPU. ``--quick``: one run, without ``--old``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _util import PYTHON, ROOT, spread, stopwatch, tf_environment, tf_options

from tfcompat.verify.runner import probe_script, run_probe

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
    tf_options(parser, runs=5)
    parser.add_argument("--old", action="store_true", help="also time the CPU measurement it no longer makes")
    parser.add_argument("--quick", action="store_true", help="one run, without --old")
    args = parser.parse_args()
    interpreter = tf_environment(args.tf).python
    own, whole = [], []
    for _ in range(1 if args.quick else args.runs):
        run = run_probe(interpreter, probe_script("speedup"), [], timeout=300)
        if run.result is None or "skipped" not in run.result:
            sys.exit(f"speedup did not skip: {run.stderr_tail[-2000:]}")
        own.append(run.result["seconds"])
        whole.append(run.seconds)
    print(f"tensorflow-cpu {args.tf}, Python {PYTHON}, no GPU listed (seconds):")
    print(f"  the probe's own work (after import): {spread(own, 3)}")
    print(f"  whole run (interpreter start and TF import included): {spread(whole)}")
    print(f"  result: {json.dumps(run.result)}")
    if args.old and not args.quick:
        with stopwatch() as took:
            done = subprocess.run(
                [str(interpreter), "-c", _OLD],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=900,
                check=True,
            )
        print(
            f"  before: timing the CPU for a null speed-up took {float(done.stdout.split()[-1]):.1f} s "
            f"of its own work ({took['wall']:.1f} s in all)"
        )


if __name__ == "__main__":
    main()
