"""Benchmark of the map: the real ``nox -s map`` session cold and warm, and the Python tags.

    python benchmarks/map.py [--cache DIR] [--skip-cold] [--python-tags]

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
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from packaging.version import Version  # noqa: E402

from tfcompat.abi import macwheels  # noqa: E402
from tfcompat.core.config import cache_dir  # noqa: E402
from tfcompat.predict import pairmap  # noqa: E402

OFFLINE = {
    key: "http://127.0.0.1:9"
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
}
#: TensorFlow releases whose every Python tag --python-tags reads: each binary layout once
#: (tensorflow-macos with cp38, both tensorflow-macos eras, tensorflow, the 2.20 install name).
SAMPLE = ("2.9.0", "2.12.0", "2.18.0", "2.20.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache", type=Path, help="TFCOMPAT_CACHE to fill and reuse (default: a temporary one)"
    )
    parser.add_argument(
        "--skip-cold", action="store_true", help="only the warm pass (needs a filled --cache)"
    )
    parser.add_argument("--python-tags", action="store_true", help="compare every Python tag of a sample")
    args = parser.parse_args()
    if args.python_tags:
        _python_tags()
        return
    with tempfile.TemporaryDirectory(prefix="tfcompat-bench-map-") as tmp:
        folder = Path(tmp)
        env = {
            "TFCOMPAT_CACHE": str(args.cache or folder / "cache"),
            "TFCOMPAT_REPORTS": str(folder / "reports"),
            "TMPDIR": str(folder / "tmp"),
        }
        (folder / "tmp").mkdir()
        watched = [Path(env["TFCOMPAT_CACHE"]), Path(env["TMPDIR"])]
        if not args.skip_cold:
            _report("cold", _session(env, watched))
        _report("warm (no network)", _session({**env, **OFFLINE}, watched))
        _cache_report(env)
        shutil.rmtree(Path(env["TFCOMPAT_CACHE"]) / "map" / "abi")
        _report(
            "warm, model changed (no network, predictions not cached)", _session({**env, **OFFLINE}, watched)
        )


def _session(env: dict, watched: list[Path]) -> dict:
    """Run ``nox -s map`` with ``env``; its output, wall time, peak memory and peak disk."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "map"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peaks = {"rss": 0, "disk": 0}
    done = threading.Event()

    def sample_memory() -> None:
        while not done.is_set():
            peaks["rss"] = max(peaks["rss"], _tree_rss(process.pid))
            done.wait(0.2)

    def sample_disk() -> None:
        while not done.is_set():
            peaks["disk"] = max(peaks["disk"], sum(_size(path) for path in watched))
            done.wait(0.5)

    samplers = [threading.Thread(target=sample_memory), threading.Thread(target=sample_disk)]
    for sampler in samplers:
        sampler.start()
    output = process.communicate()[0]
    done.set()
    for sampler in samplers:
        sampler.join()
    return {
        "output": output,
        "returncode": process.returncode,
        "seconds": time.monotonic() - started,
        "rss": peaks["rss"],
        "disk": peaks["disk"],
    }


def _tree_rss(root: int) -> int:
    """The summed resident set (bytes) of ``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        rss[int(entry.name)] = pages * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass  # deleted meanwhile
    return total


def _report(name: str, outcome: dict) -> None:
    print(f"== {name}")
    for line in outcome["output"].splitlines():
        if line.startswith("nox > map:") or "Session map" in line:
            print(f"   {line}")
    print(
        f"{name}: {outcome['seconds']:.1f} s (exit {outcome['returncode']}); "
        f"peak memory {outcome['rss'] / 1e9:.2f} GB (process tree); "
        f"peak extra disk {outcome['disk'] / 1e9:.2f} GB (caches and temporary files)"
    )


def _cache_report(env: dict) -> None:
    cache = Path(env["TFCOMPAT_CACHE"])
    parts = {folder.name: _size(folder) for folder in sorted(cache.iterdir()) if folder.is_dir()}
    line = ", ".join(f"{name}/ {size / 1e6:.1f} MB" for name, size in parts.items())
    print(f"cache: {sum(parts.values()) / 1e6:.1f} MB ({line})")


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
