"""Benchmark of the XLA hazard and the install command: seconds per TensorFlow release.

    python benchmarks/hazard.py [--cache DIR] [--no-fill] [--quick]

One row of the matrix per TensorFlow release (its first row). Three passes, each in its own
interpreter:
- fill: ``xla.predict`` and ``installcmd.install_command`` for every row, downloading and
  resolving what the cache lacks (skipped with ``--no-fill``: the cache must then be warm);
- warm: the same calls with every proxy pointed at a closed local port, so they prove they
  need no network: the cost the check adds to an abi run or a map cell;
- decide: ``xla.judge`` on the cached sources, without the cached verdict: the cost after a
  change of tfcompat's code (the verdict cache is keyed by it), or of a new Keras wheel.
Printed: per row the verdict and the seconds of each pass, then the totals. ``--quick`` (the
smoke run CI makes): the first TensorFlow release only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _util import OFFLINE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="the suite's cache folder (default: $TFCOMPAT_CACHE)")
    parser.add_argument("--no-fill", action="store_true", help="skip the fill pass: the cache is warm")
    parser.add_argument("--quick", action="store_true", help="the first TensorFlow release only")
    parser.add_argument("--pass", dest="which", choices=("fill", "warm", "decide"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.which:
        print(json.dumps(_pass(args.which, args.cache, quick=args.quick)))
        return
    env = dict(os.environ, **({"TFCOMPAT_CACHE": str(args.cache)} if args.cache else {}))
    passes = {}
    for which in ("fill", "warm", "decide"):
        if which == "fill" and args.no_fill:
            continue
        run_env = {**env, **OFFLINE} if which != "fill" else env
        done = subprocess.run(
            [sys.executable, __file__, "--pass", which, *(["--quick"] if args.quick else [])],
            capture_output=True,
            text=True,
            env=run_env,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"{which} pass failed:\n{done.stderr[-3000:]}")
        passes[which] = json.loads(done.stdout)
    _print(passes)


def _pass(which: str, cache: Path | None, *, quick: bool) -> list[dict]:
    from tfcompat.core import config
    from tfcompat.core.matrix import load_matrix
    from tfcompat.hazard import xla
    from tfcompat.resolve import installcmd

    cache = cache or config.cache_dir()
    rows, seen = [], set()
    for row in load_matrix().rows:
        if row.has_plugin and row.tf not in seen:
            seen.add(row.tf)
            rows.append(row)
    results = []
    for row in rows[:1] if quick else rows:
        result = {"tf": row.tf, "metal": row.metal, "python": row.python}
        started = time.perf_counter()
        try:
            if which == "decide":
                wheels = xla.WheelSet.of(tf=row.tf, metal=row.metal, python=row.python, cache=cache)
                with wheels.sources(cache) as sources:
                    section = xla.judge(sources, xla.MAC, missing=wheels.missing)
            else:
                section = xla.predict(tf=row.tf, metal=row.metal, python=row.python, cache_dir=cache)
            result["hazard"] = f"{section['predicted']} ({section['keras']})"
        except xla.HazardError as exc:
            result["hazard"] = f"no prediction: {exc}"[:40]
        result["hazard_seconds"] = round(time.perf_counter() - started, 3)
        if which != "decide":
            started = time.perf_counter()
            try:
                install = installcmd.install_command(
                    tf=row.tf, metal=row.metal, python=row.python, cache_dir=cache
                )
                result["install"] = " ".join(install["pins"]) or "-" if install["works"] else "does not work"
            except installcmd.InstallError as exc:
                result["install"] = f"no answer: {exc}"[:20]
            result["install_seconds"] = round(time.perf_counter() - started, 3)
        results.append(result)
    return results


def _print(passes: dict[str, list[dict]]) -> None:
    warm = passes["warm"]
    print(
        f"{'tf':<10} {'metal':<6} {'py':<5} {'hazard':<42} {'install pins':<22} seconds: fill / warm / decide"
    )
    for index, row in enumerate(warm):
        fill = passes.get("fill", [{}] * len(warm))[index]
        decide = passes["decide"][index]
        seconds = " / ".join(
            f"{r.get('hazard_seconds', 0) + r.get('install_seconds', 0):.2f}" if r else "-"
            for r in (fill, row)
        )
        print(
            f"{row['tf']:<10} {row['metal']:<6} {row['python']:<5} {row['hazard']:<42} {row['install']:<22} "
            f"{seconds} / {decide['hazard_seconds']:.2f}"
        )
    for which, results in passes.items():
        hazard = sum(r["hazard_seconds"] for r in results)
        install = sum(r.get("install_seconds", 0) for r in results)
        slowest = max(r["hazard_seconds"] for r in results)
        print(
            f"{which}: hazard {hazard:.2f} s for {len(results)} releases (max {slowest:.2f} s)"
            + (f", install commands {install:.2f} s" if which != "decide" else "")
        )


if __name__ == "__main__":
    main()
