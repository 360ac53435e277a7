"""The import probe's floor: how long ``probes/import.py`` needs, the least a probe timeout may be.

    python benchmarks/import_floor.py [--tf 2.17.0] [--runs 8]

Every probe that decides a verdict (import, devices, fit, agree) starts by importing TensorFlow,
and a probe that times out is a failure of the pair: a timeout below what the import needs would
record a working pair as failing. The matrix refuses timeouts under ``matrix.PROBE_FLOOR``; this
measures what that floor stands on. The environment is the suite's own (``provision``, bytecode
compiled as a verify session has it); each run is the probe as verify runs it (``run_probe``:
a new interpreter, wall time to its last line). The cold runs point ``PYTHONPYCACHEPREFIX`` at an
empty folder, so no bytecode is found: the first import after a plain ``pip install``.
Prints minimum, median and maximum seconds of each, and the floor against the slowest run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tfcompat.core.matrix import PROBE_FLOOR, Row  # noqa: E402
from tfcompat.verify.provision import provision  # noqa: E402
from tfcompat.verify.runner import probe_script, run_probe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf", default="2.17.0", help="tensorflow-cpu release")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    row = Row(number=1, python=python, tf=args.tf, metal="none", supports=None)
    env = provision(row, timeout=900, log=lambda _: None)
    base = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    slowest = 0.0
    for kind in ("warm", "cold"):
        walls, imports = [], []
        for _ in range(args.runs):
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
            f"(min / median / max of {args.runs}); import alone {min(imports):.2f} / "
            f"{statistics.median(imports):.2f} / {max(imports):.2f} s"
        )
    print(f"floor {PROBE_FLOOR:g} s = {PROBE_FLOOR / slowest:.1f} x the slowest run ({slowest:.2f} s)")


if __name__ == "__main__":
    main()
