"""What the benchmarks share: the checkout on sys.path, the closed network, the control row's
real environment, clocks, medians, memory and disk figures.

Imported first by every benchmark (``import _util``: a script's own folder is on its path),
which puts the checkout on ``sys.path`` so that ``tfcompat`` imports.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Every proxy pointed at a closed local port: a pass run with these proves it needs no network.
OFFLINE = {
    key: "http://127.0.0.1:9"
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
}
#: The one pair of a ``--quick`` map (its session options), and what its "cold" cache starts
#: with: the suite's own wheel facts, sources, resolutions and hazards, copied.
QUICK_PAIR = ["--tf", "2.17.0", "--metal", "1.1.0"]
QUICK_SEED = ("abi", "wheelsource", "macresolve", "hazard")
#: The Python running the benchmark, as a row names it.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def cache_options(parser: argparse.ArgumentParser) -> None:
    """``--cache`` and ``--skip-cold``, for a benchmark with a cold and a warm pass."""
    parser.add_argument(
        "--cache", type=Path, help="TFCOMPAT_CACHE to fill and reuse (default: a temporary one)"
    )
    parser.add_argument(
        "--skip-cold", action="store_true", help="only the warm pass (needs a filled --cache)"
    )


def tf_options(parser: argparse.ArgumentParser, *, runs: int) -> None:
    """``--tf`` (the tensorflow-cpu release of the control row) and ``--runs``."""
    parser.add_argument("--tf", default="2.17.0", help="tensorflow-cpu release")
    parser.add_argument("--runs", type=int, default=runs)


def control_row(tf: str):
    """The TensorFlow-alone row of ``tf`` (tensorflow-cpu off macOS) on this Python."""
    from tfcompat.core.matrix import Row

    return Row(number=1, python=PYTHON, tf=tf, metal="none", supports=None)


def tf_environment(tf: str):
    """The suite's own real environment of ``tf`` alone (provisioned, or reused as a rerun does)."""
    from tfcompat.verify.provision import provision

    return provision(control_row(tf), timeout=900, log=lambda _: None)


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as took:`` then ``took["wall"]`` and ``took["cpu"]`` (this process's) seconds."""
    took: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield took
    finally:
        took["wall"], took["cpu"] = time.perf_counter() - wall, time.process_time() - cpu


def spread(samples: list[float], digits: int = 2) -> str:
    """``median M, max X (N runs)`` of ``samples``, for one printed line."""
    return (
        f"median {statistics.median(samples):.{digits}f}, max {max(samples):.{digits}f} "
        f"({len(samples)} run{'s' if len(samples) != 1 else ''})"
    )


def peak_rss_of_children_mb() -> float:
    """The peak resident set of the largest child this process has waited for, in MB (Linux)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def tree_rss(root: int) -> int:
    """The summed resident set (bytes) of process ``root`` and every process below it (Linux)."""
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


def folder_size(path: Path) -> int:
    """Bytes of the files below ``path`` (links not followed; files deleted meanwhile skipped)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def run_watched(argv: list[str], env: dict[str, str], watched: list[Path]) -> dict:
    """Run ``argv`` with ``env`` added to this environment; its output (stdout and stderr), exit
    code, wall time, peak memory (the summed resident sets of its whole process tree, sampled
    every 0.2 s) and peak disk (the files below ``watched``, sampled every 0.5 s)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peaks = {"rss": 0, "disk": 0}
    done = threading.Event()

    def sample_memory() -> None:
        while not done.is_set():
            peaks["rss"] = max(peaks["rss"], tree_rss(process.pid))
            done.wait(0.2)

    def sample_disk() -> None:
        while not done.is_set():
            peaks["disk"] = max(peaks["disk"], sum(folder_size(path) for path in watched))
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


def cache_report(cache: Path) -> str:
    """``cache: N MB (kind/ M MB, ...)``: the size of each folder of a tfcompat cache."""
    parts = {folder.name: folder_size(folder) for folder in sorted(cache.iterdir()) if folder.is_dir()}
    line = ", ".join(f"{name}/ {size / 1e6:.1f} MB" for name, size in parts.items())
    return f"cache: {sum(parts.values()) / 1e6:.1f} MB ({line})"


def seed_quick_cache(target: Path) -> None:
    """Start ``target`` (an empty TFCOMPAT_CACHE) with the QUICK_SEED folders of the cache in use."""
    from tfcompat.core.config import cache_dir

    for kind in (kind for kind in QUICK_SEED if (cache_dir() / kind).is_dir()):
        shutil.copytree(cache_dir() / kind, target / kind)


def session_folders(folder: Path, cache: Path | None) -> tuple[dict[str, str], list[Path]]:
    """The environment of a benchmarked run in ``folder``: its tfcompat cache (``cache``, else a
    new one in ``folder``), reports folder and TMPDIR; and the folders whose disk use it watches."""
    env = {
        "TFCOMPAT_CACHE": str(cache or folder / "cache"),
        "TFCOMPAT_REPORTS": str(folder / "reports"),
        "TMPDIR": str(folder / "tmp"),
    }
    (folder / "tmp").mkdir()
    return env, [Path(env["TFCOMPAT_CACHE"]), Path(env["TMPDIR"])]
