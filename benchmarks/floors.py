"""The floors of every tensorflow-metal release against every TensorFlow release, and their cost.

    python benchmarks/floors.py [--macos 11.6] [--quick]

Predicts every pair as the map does (``pairmap.predict_release``: the same ``check.predict``, from
the suite's cache; the first run reads the wheels), then prints per plugin release the install
floor, the load floor with the import that sets it, the built-for minos (each as the range over
the TensorFlow releases it is paired with, where they differ), and with ``--macos`` dyld's error
there. Timed: a warm ``check.predict`` of every plugin against one TensorFlow release, floors
included and excluded, so the floors' own cost shows. ``--quick`` (the smoke run CI makes): the
newest TensorFlow release only.
"""

from __future__ import annotations

import argparse
import time

from _util import stopwatch
from packaging.version import Version

from tfcompat.abi import check, frameworks, macwheels
from tfcompat.core.config import cache_dir
from tfcompat.predict import pairmap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macos", help="also print dyld's error on this macOS, where a floor is above it")
    parser.add_argument("--quick", action="store_true", help="the newest TensorFlow release only")
    args = parser.parse_args()
    root = cache_dir()
    index = pairmap.releases(root=root, log=lambda line: None)
    plugins = [(m.version, m.read.ref) for m in index.metal]
    releases = index.tf[-1:] if args.quick else index.tf
    cells: dict[str, dict[str, dict]] = {}
    with stopwatch() as took:
        for release in releases:
            answers, _ = pairmap.predict_release(release.read.ref, plugins, root)
            for metal, fields in answers.items():
                cells.setdefault(metal, {})[release.version] = fields
    print(f"{len(releases)} x {len(plugins)} pairs predicted in {took['wall']:.1f} s\n")
    print("| tensorflow-metal | install floor | load floor | set by | built for |")
    print("|---|---|---|---|---|")
    for metal, by_tf in cells.items():
        floors = [cell["floors"] for cell in by_tf.values() if cell.get("floors")]
        step = max(
            (f["steps"][-1] for f in floors if f["steps"]), key=lambda s: Version(s["macos"]), default=None
        )
        setter = (
            f"`{step['symbol']}` ({step['library'].rsplit('/', 1)[-1]})"
            if step
            else "nothing newer than 11.0"
        )
        unknown = max(f["unknown_count"] for f in floors)
        print(
            f"| {metal} | {_span(f['install'] for f in floors)} | {_span(f['load'] for f in floors)}"
            + f" | {setter}"
            + (f", {unknown} undated" if unknown else "")
            + f" | {_span(f['built_for'] for f in floors)} |"
        )
        if args.macos:
            words = frameworks.dyld_words(floors[0], args.macos)
            said = words.message if words else frameworks.load_verdict(floors[0], args.macos)[0]
            print(f"|  | on {args.macos}: {said} | | | |")
    _time_warm(index, root)


def _span(values) -> str:
    found = sorted({v for v in values if v}, key=Version)
    return " – ".join(dict.fromkeys([found[0], found[-1]])) if found else "—"


def _time_warm(index, root) -> None:
    """Warm cost of the floors: every plugin predicted against the newest TensorFlow release."""
    release = index.tf[-1]
    facts = macwheels.facts(release.read.ref, root=macwheels.cache_root(root))
    tf = check.tensorflow_side(facts)
    sides = [
        check.plugin_side(macwheels.facts(m.read.ref, root=macwheels.cache_root(root))) for m in index.metal
    ]
    check.predict(tf, sides[0])  # the table is read once per process
    started = time.monotonic()
    for side in sides:
        check.predict(tf, side)
    with_floors = time.monotonic() - started
    started = time.monotonic()
    for side in sides:
        check._floors(tf, side, tf.process.fork(side.site))
    alone = time.monotonic() - started
    print(
        f"\nwarm, TF {release.version}: check.predict of {len(sides)} plugins {with_floors:.3f} s, "
        f"of which floors {alone:.3f} s ({alone / len(sides) * 1000:.1f} ms per plugin release)"
    )


if __name__ == "__main__":
    main()
