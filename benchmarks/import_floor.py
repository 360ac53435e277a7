"""The import probe's floor: how long ``probes/import.py`` needs, the least a probe timeout may be.

    python benchmarks/import_floor.py [--tf 2.17.0] [--runs 8] [--quick]

Every probe that decides a verdict (import, devices, fit, agree) starts by importing TensorFlow,
and a probe that times out is a failure of the pair: a timeout below what the import needs would
record a working pair as failing. The matrix refuses timeouts under ``matrix.PROBE_FLOOR``; this
measures what that floor stands on. The environment is the suite's own (``provision``, bytecode
compiled as a verify session has it); each run is the probe as verify runs it (``run_probe``:
a new interpreter, wall time to its last line). The cold runs point ``PYTHONPYCACHEPREFIX`` at an
empty folder, so no bytecode is found: the first import after a plain ``pip install``.
Prints minimum, median and maximum seconds of each, and the floor against the slowest run.
``--quick``: one run of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from _util import tf_environment, tf_options

from tfcompat.core.matrix import PROBE_FLOOR
from tfcompat.verify.runner import probe_script, run_probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tf_options(parser, runs=8)
    parser.add_argument("--quick", action="store_true", help="one run of each")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    env = tf_environment(args.tf)
    base = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    slowest = 0.0
    for kind in ("warm", "cold"):
        walls, imports = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                environ = dict(base, PYTHONPYCACHEPREFIX=tmp) if kind == "cold" else base
                run = run_probe(
                    env.python, probe_script("import"), [], timeout=600, env=environ, log_dir=Path(tmp)
                )
            if run.returncode != 0 or run.result is None:
                raise SystemExit(f"the import probe failed: {run.stderr_tail[-500:]}")
            walls.append(run.seconds)
            imports.append(run.result["import_seconds"])
        slowest = max(slowest, *walls)
        print(
            f"{kind}: wall {min(walls):.2f} / {statistics.median(walls):.2f} / {max(walls):.2f} s "
            f"(min / median / max of {runs}); import alone {min(imports):.2f} / "
            f"{statistics.median(imports):.2f} / {max(imports):.2f} s"
        )
    print(f"floor {PROBE_FLOOR:g} s = {PROBE_FLOOR / slowest:.1f} x the slowest run ({slowest:.2f} s)")


if __name__ == "__main__":
    main()
