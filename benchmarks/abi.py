"""Benchmark of the abi sessions: the matrix's rows cold and warm, and the reader against LIEF.

    python benchmarks/abi.py [--cache DIR] [--skip-cold] [--skip-lief] [--quick]

Each row is what an ``abi`` session does today (``predict.row.run_abi``): the engine
(``pairmap.predict``) asked about the row's one pair (its load prediction, install preflights,
training hazard and today's install commands) and the record written, to a temporary reports
folder. The rows of a pass share the index's answers, as the sessions of one nox run do. The
cold pass starts from an empty cache (``TFCOMPAT_CACHE``: a temporary folder unless ``--cache``
names one); the warm pass reruns every row from that cache with all proxies pointed at a closed
local port, so it proves it needs no network. Each pass runs in its own interpreter. Printed:
per-row seconds and verdicts, the totals, the peak memory so far, the cache size by folder, the
largest extra disk a wheel needs while read (wheel + largest member), and LIEF against
tfcompat.abi.macho on the largest TensorFlow library (time and export count). ``--quick`` (the smoke
run CI makes): the first row only, on the suite's cache, without LIEF.
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

from _util import OFFLINE, cache_options, cache_report, peak_rss_of_children_mb

from tfcompat.abi import macho, macwheels
from tfcompat.core import config
from tfcompat.core.config import cache_dir
from tfcompat.core.matrix import load_matrix
from tfcompat.index.wheels import download
from tfcompat.predict import pairmap
from tfcompat.predict.row import run_abi

LARGEST = ("tensorflow", "2.19.0", "3.10", "tensorflow/libtensorflow_cc.2.dylib")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache_options(parser)
    parser.add_argument("--skip-lief", action="store_true", help="do not compare with LIEF")
    parser.add_argument("--quick", action="store_true", help="the first row, the suite's cache, no LIEF")
    parser.add_argument("--one-pass", action="store_true", help=argparse.SUPPRESS)  # internal: rows, JSON
    args = parser.parse_args()
    if args.one_pass:
        print(json.dumps(_rows(quick=args.quick)))
        return
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-") as tmp:
        cache = (args.cache or (cache_dir() if args.quick else Path(tmp) / "cache")).resolve()
        env = {config.CACHE_ENV: str(cache), config.REPORTS_ENV: str(Path(tmp) / "reports")}
        if not args.skip_cold:
            _report("cold", _pass(env, quick=args.quick))
        _report("warm (no network)", _pass({**env, **OFFLINE}, quick=args.quick))
        _cache_report(cache, quick=args.quick)
    if not (args.skip_lief or args.quick):
        _lief_report()


def _matrix_rows(*, quick: bool):
    rows = [row for row in load_matrix().rows if row.has_plugin]
    return rows[:1] if quick else rows


def _rows(*, quick: bool) -> list[dict]:
    """Run an abi session's work for every row with a plugin (``quick``: the first); one dict
    per row with its time and outcome."""
    results = []
    answers: dict = {}  # the index's answers, shared by the rows as by the sessions of a nox run
    for row in _matrix_rows(quick=quick):
        started = time.monotonic()
        record, _ = run_abi(row, log=lambda _: None, answers=answers)
        abi = record.abi
        outcome = record.verdict
        if abi.first:
            outcome += f" ({abi.unresolved_count}): {abi.first.splitlines()[0]}"
        elif abi.error:
            outcome += f": {abi.error.splitlines()[0]}"
        results.append(
            {
                "row": f"{row.python} {row.tf} + {row.metal}",
                "seconds": time.monotonic() - started,
                "outcome": outcome,
            }
        )
    return results


def _pass(env: dict, *, quick: bool) -> dict:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, __file__, "--one-pass", *(["--quick"] if quick else [])],
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


def _cache_report(cache: Path, *, quick: bool) -> None:
    """The cache's size by folder, and the most extra disk one of the rows' wheels needs while it
    is read (its size, from the index's cached answers, and its largest member)."""
    rows = _matrix_rows(quick=quick)
    named = tuple({version for row in rows for version in (row.tf, row.metal)})
    tf, metal, _ = pairmap.releases(root=cache, log=lambda _: None, named=named)
    releases = {release.version: release for release in tf} | {release.version: release for release in metal}
    peak = 0
    for version in named:
        ref = releases[version].read.ref if version in releases else None
        if ref is None or not (macwheels.cache_root(cache) / "facts" / f"{ref.sha256}.facts").is_file():
            continue  # no wheel for the row, or not read: its pass said why
        facts = macwheels.facts(ref, root=macwheels.cache_root(cache))
        largest = max((meta["size"] for meta in facts.images.values()), default=0)
        peak = max(peak, ref.size + largest)
        facts.close()
    print(
        f"== {cache_report(cache)}; "
        f"largest extra disk while reading a wheel (wheel + largest member): {peak / 1e9:.2f} GB"
    )


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
