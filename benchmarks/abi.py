"""Benchmark of the abi check: cold and warm passes over the matrix, and the reader against LIEF.

    python benchmarks/abi.py [--cache DIR] [--skip-cold] [--skip-lief] [--quick]

The cold pass starts from an empty cache (a temporary folder unless ``--cache`` names one);
the warm pass reruns every row from that cache with all proxies pointed at a closed local
port, so it proves it needs no network. Each pass runs in its own interpreter: its peak RSS
is measured alone. Printed: per-row seconds and verdicts, the totals, the peak memory, the
cache size, the largest extra disk a wheel needs while read (wheel + largest member), and
LIEF against tfcompat.abi.macho on the largest TensorFlow library (time and export count).
``--quick`` (the smoke run CI makes): the first row only, on the suite's cache, without LIEF.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _util import OFFLINE, cache_options, peak_rss_of_children_mb

from tfcompat.abi import check, macho, macwheels
from tfcompat.core import macos
from tfcompat.core.config import cache_dir
from tfcompat.core.matrix import load_matrix
from tfcompat.index.wheels import WheelError, WheelRef, download

LARGEST = ("tensorflow", "2.19.0", "3.10", "tensorflow/libtensorflow_cc.2.dylib")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache_options(parser)
    parser.add_argument("--skip-lief", action="store_true", help="do not compare with LIEF")
    parser.add_argument("--quick", action="store_true", help="the first row, the suite's cache, no LIEF")
    parser.add_argument("--one-pass", type=Path, help=argparse.SUPPRESS)  # internal: run rows, print JSON
    args = parser.parse_args()
    if args.one_pass:
        print(json.dumps(_rows(args.one_pass, quick=args.quick)))
        return
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-") as tmp:
        cache = args.cache or (cache_dir() if args.quick else Path(tmp))
        if not args.skip_cold:
            _report("cold", _pass(cache, env={}, quick=args.quick))
        _report("warm (no network)", _pass(cache, env=OFFLINE, quick=args.quick))
        _cache_report(cache)
    if not (args.skip_lief or args.quick):
        _lief_report()


def _rows(cache: Path, *, quick: bool) -> list[dict]:
    """Check every row with a plugin (``quick``: the first); one dict per row with its time and outcome."""
    results = []
    rows = [row for row in load_matrix().rows if row.has_plugin]
    for row in rows[:1] if quick else rows:
        started = time.monotonic()
        try:
            result = check.check(tf=row.tf, metal=row.metal, python=row.python, cache_dir=cache)
            outcome = result["verdict"] + (
                f" ({result['unresolved_count']}): {result['first'].splitlines()[0]}"
                if result["first"]
                else ""
            )
        except check.AbiError as exc:
            outcome = f"error: {exc}"
        results.append(
            {
                "row": f"{row.python} {row.tf} + {row.metal}",
                "seconds": time.monotonic() - started,
                "outcome": outcome,
            }
        )
    return results


def _pass(cache: Path, *, env: dict, quick: bool) -> dict:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--one-pass", str(cache), *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return {
        "rows": json.loads(done.stdout),
        "total": time.monotonic() - started,
        "peak_rss_mb": peak_rss_of_children_mb(),
    }


def _report(name: str, outcome: dict) -> None:
    print(f"== {name}")
    for row in outcome["rows"]:
        print(f"{row['seconds']:7.2f} s  {row['row']:24} {row['outcome']}")
    print(
        f"total {outcome['total']:.1f} s for {len(outcome['rows'])} rows (interpreter start included); "
        f"peak RSS so far {outcome['peak_rss_mb']:.0f} MB"
    )


def _cache_report(cache: Path) -> None:
    files = [p for p in macwheels.cache_root(cache).rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    peak = 0
    for ref in _cached_refs(cache):
        facts = macwheels.facts(ref, root=macwheels.cache_root(cache))
        largest = max((meta["size"] for meta in facts.images.values()), default=0)
        peak = max(peak, ref.size + largest)
        facts.close()
    print(
        f"== cache: {total / 1e6:.1f} MB in {len(files)} files; "
        f"largest extra disk while reading a wheel (wheel + largest member): {peak / 1e9:.2f} GB"
    )


def _cached_refs(cache: Path) -> list[WheelRef]:
    """The wheels of the matrix, from the resolutions the passes cached."""
    refs = {}
    for row in load_matrix().rows:
        if not row.has_plugin:
            continue
        wanted = [(macos.binary_name(row.tf), row.tf), (macos.PLUGIN, row.metal)]
        try:
            found = macwheels.resolve(wanted, python=row.python, root=macwheels.cache_root(cache))
        except WheelError:
            continue  # a row without wheels: its pass said so
        refs.update((ref.sha256, ref) for ref in found)
    return list(refs.values())


def _lief_report() -> None:
    import lief

    name, version, python, member = LARGEST
    (ref,) = macwheels.resolve([(name, version)], python=python, root=macwheels.cache_root())
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-") as tmp:
        wheel = download(ref, Path(tmp))
        target = Path(tmp) / Path(member).name
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        wheel.unlink()
        size_mb = target.stat().st_size / 1e6
        started = time.monotonic()
        ours = macho.read(target, imports=False)
        ours_seconds = time.monotonic() - started
        started = time.monotonic()
        binary = lief.MachO.parse(str(target)).at(0)
        theirs = {e.symbol.name for e in binary.dyld_info.exports}
        lief_seconds = time.monotonic() - started
    print(f"== {ref.filename}: {member} ({size_mb:.0f} MB)")
    print(f"tfcompat.abi.macho: {ours_seconds:.2f} s, {len(ours.exports)} exports")
    print(f"LIEF {lief.__version__}: {lief_seconds:.2f} s, {len(theirs)} exports")
    print(f"same export names: {set(ours.exports) == theirs}")


if __name__ == "__main__":
    main()
