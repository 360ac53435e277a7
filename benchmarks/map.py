"""Benchmark of the map: the real ``nox -s map`` session cold and warm, and the Python tags.

    python benchmarks/map.py [--cache DIR] [--skip-cold] [--python-tags] [--quick]

Cold: an empty cache (a temporary ``TFCOMPAT_CACHE``; the preflights' uv cache is always a new
one per run): every TensorFlow and plugin wheel downloaded once, read and deleted, every
preflight resolved. Warm: the same session again from that cache with every proxy pointed at a
closed local port, so it proves it needs no network. Warm, model changed: the same without the
cached predictions (as after a change of the abi model's code), so every TensorFlow release is
loaded from its cached facts and every plugin predicted again. For each pass: wall time, peak
memory (the sum of the resident sets of the session's whole process tree: nox, its worker
processes and their uv children, sampled every 0.2 s), peak extra disk (the cache folder and
the session's temporary folder, where wheels are downloaded and unpacked, sampled every
0.5 s), and the cache size at the end. Printed with the session's own progress lines.

``--python-tags``: for a sample of TensorFlow releases, read the wheel of every Python tag and
predict every plugin against each, through the map's engine (``pairmap.predict_release``,
without its prediction cache); print whether any verdict, first reason, count, second layer,
minimum macOS or reason for no prediction differs from the wheel the map reads (about 3 GB of
downloads on a cold cache).

``--quick`` (the smoke run CI makes): the same three passes over one pair (TensorFlow 2.17.0 and
tensorflow-metal 1.1.0), the "cold" cache starting with the suite's wheel facts and sources.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _util import (
    OFFLINE,
    QUICK_PAIR,
    ROOT,
    cache_options,
    cache_report,
    run_watched,
    seed_quick_cache,
    session_folders,
)
from packaging.version import Version

from tfcompat.abi import macwheels
from tfcompat.core.config import cache_dir
from tfcompat.predict import pairmap

#: TensorFlow releases whose every Python tag --python-tags reads: each binary layout once
#: (tensorflow-macos with cp38, both tensorflow-macos eras, tensorflow, the 2.20 install name).
SAMPLE = ("2.9.0", "2.12.0", "2.18.0", "2.20.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cache_options(parser)
    parser.add_argument("--python-tags", action="store_true", help="compare every Python tag of a sample")
    parser.add_argument("--quick", action="store_true", help="one pair, a cache seeded with the suite's")
    args = parser.parse_args()
    if args.python_tags:
        _python_tags()
        return
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-map-") as tmp:
        folder = Path(tmp)
        env, watched = session_folders(folder, args.cache)
        posargs = ["--", *QUICK_PAIR] if args.quick else []
        if args.quick and not args.cache:
            seed_quick_cache(Path(env["TFCOMPAT_CACHE"]))
        if not args.skip_cold:
            _report("cold", _session(env, watched, posargs))
        _report("warm (no network)", _session({**env, **OFFLINE}, watched, posargs))
        print(cache_report(Path(env["TFCOMPAT_CACHE"])))
        shutil.rmtree(Path(env["TFCOMPAT_CACHE"]) / "map" / "abi")
        _report(
            "warm, model changed (no network, predictions not cached)",
            _session({**env, **OFFLINE}, watched, posargs),
        )


def _session(env: dict, watched: list[Path], posargs: list[str]) -> dict:
    """Run ``nox -s map`` with ``env``; its output, wall time, peak memory and peak disk."""
    return run_watched(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "map", *posargs], env, watched
    )


def _report(name: str, outcome: dict) -> None:
    print(f"== {name}")
    for line in outcome["output"].splitlines():
        if line.startswith("nox > map:") or "Session map" in line:
            print(f"   {line}")
    if outcome["returncode"] != 0:
        sys.exit(f"{name}: the map session failed:\n{outcome['output'][-3000:]}")
    print(
        f"{name}: {outcome['seconds']:.1f} s (exit {outcome['returncode']}); "
        f"peak memory {outcome['rss'] / 1e9:.2f} GB (process tree); "
        f"peak extra disk {outcome['disk'] / 1e9:.2f} GB (caches and temporary files)"
    )


def _python_tags() -> None:
    """Every Python tag of the SAMPLE releases against every plugin, compared with the map's:
    each predicted by the engine (``pairmap.predict_release``) afresh, from the suite's facts."""
    root = cache_dir()
    tf_releases, metal_releases, _ = pairmap.releases(root=root, log=print)
    plugins = [(m.version, m.read.ref) for m in metal_releases]
    differences = compared = 0
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-") as tmp:
        for release in (r for r in tf_releases if r.version in SAMPLE):
            reference = None
            for python in sorted(release.binary, key=lambda p: p != release.read.python):
                fresh = Path(tmp) / f"{release.version}-cp{python}"  # no cached prediction
                fresh.mkdir()
                (fresh / "abi").symlink_to(macwheels.cache_root(root), target_is_directory=True)
                answers, _ = pairmap.predict_release(release.binary[python].ref, plugins, fresh)
                outcome = {metal: _summary(fields) for metal, fields in answers.items()}
                if reference is None:
                    reference = outcome
                    continue
                compared += len(outcome)
                for metal, mine in outcome.items():
                    if mine != reference[metal]:
                        differences += 1
                        print(
                            f"tf {release.version} + {metal}: cp{python} {mine} "
                            f"vs cp{release.read.python} {reference[metal]}"
                        )
            tags = ", ".join(sorted(release.binary, key=Version))
            print(f"tf {release.version}: Python tags {tags} compared")
    print(f"{compared} predictions on other Python tags compared with the map's wheel: {differences} differ")


def _summary(fields: dict) -> tuple:
    """What a cell says of the load (or why it has no prediction)."""
    keys = ("abi", "first", "unresolved_count", "second", "min_macos", "error")
    return tuple(fields.get(key) for key in keys)


if __name__ == "__main__":
    main()
