"""Time to a finished import probe: pip, naive uv, and the suite, side by side.

    python benchmarks/provision.py [--tf 2.17.0] [--runs 3] [--quick]

Each path starts from nothing (a new environment) except the suite's real nox session, which
reuses its environment as a rerun does, after checking its files against their RECORD. The
check's own cost is printed too: the check every reuse makes (stat against the manifest) and the
full one (every file hashed against RECORD) a new or unproven environment gets. Each path ends
when ``probes/import.py`` has printed its result, because install time alone hides the ~10 s that
a first import costs when nothing compiled the bytecode. Runs alternate between the paths so
machine noise falls on all of them; the figures are medians.

This machine's environment is not a user's: ``PYTHONDONTWRITEBYTECODE=1`` is set (which would
make every import in a naive uv environment slow, not just the first), and pip is configured
with local indexes, a constraints file and ``PIP_FIND_LINKS``. For a fair comparison every path
runs without ``PYTHONDONTWRITEBYTECODE``, and pip runs ``--isolated`` (PyPI only, no local
configuration). All paths install the same resolved set. ``--quick`` (the smoke run CI makes):
one run of the suite's two paths (pip and naive uv download and install TensorFlow anew).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import PYTHON, ROOT, control_row, spread, tf_environment, tf_options

from tfcompat.core.config import CACHE_ENV, cache_dir
from tfcompat.core.matrix import Row
from tfcompat.core.uvcall import uv_binary
from tfcompat.verify import installed
from tfcompat.verify.provision import environment_lock, provision
from tfcompat.verify.runner import probe_script, run_probe

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tf_options(parser, runs=3)
    parser.add_argument("--quick", action="store_true", help="one run of the suite's two paths")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    runs = 1 if args.quick else args.runs
    row = control_row(args.tf)
    # Warm every cache first (uv's wheels, the suite's resolution): the figures are warm figures.
    env = tf_environment(args.tf)
    lock = "\n".join(env.packages) + "\n"
    interpreter = env.interpreter.split(" ", 1)[1]

    paths = {
        "pip (venv + pip install)": lambda tmp: _pip_path(interpreter, lock, tmp),
        "naive uv (uv venv + uv pip install)": lambda tmp: _uv_path(interpreter, lock, tmp),
        "suite, new environment": lambda tmp: _suite_path(row, tmp),
        "suite: nox verify session (reuse)": lambda tmp: _nox_session(row, tmp, overheads),
    }
    if args.quick:
        paths = {name: path for name, path in paths.items() if name.startswith("suite")}
    overheads: list[float] = []
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for run in range(runs):
        for name, path in paths.items():
            with tempfile.TemporaryDirectory() as tmp:
                times[name].append(path(Path(tmp)))
            install, total = times[name][-1]
            print(
                f"run {run + 1}: {name}: install {install:.1f} s, to finished import {total:.1f} s",
                flush=True,
            )

    print(f"\ntensorflow-cpu {args.tf}, Python {PYTHON}, {runs} runs, medians (seconds):")
    print(f"{'path':38} {'install':>8} {'import':>8} {'total':>8} {'vs suite':>9}")
    suite = statistics.median(total for _, total in times["suite: nox verify session (reuse)"])
    for name, samples in times.items():
        install = statistics.median(i for i, _ in samples)
        total = statistics.median(t for _, t in samples)
        print(f"{name:38} {install:8.1f} {total - install:8.1f} {total:8.1f} {total / suite:8.1f}x")
    print(f"suite overhead per session (wall time less provisioning and probes): {spread(overheads)}")
    _check_cost(env, runs=1 if args.quick else max(runs, 5))


def _check_cost(env, *, runs: int) -> None:
    """The environment check alone, on the environment the nox sessions reused."""
    env_dir = env.python.parent.parent
    site = installed.site_packages(env_dir, env.interpreter.split()[0])
    key, expected = _manifest_key(env_dir), env.packages
    with environment_lock(env_dir):  # the suite's environment: a session may be reusing it now
        seal = installed.seal(env_dir, site, key=key, expected=expected)
        checks = [installed.check(env_dir, site, key=key, expected=expected) for _ in range(runs)]
    print(
        f"environment check ({seal.files} files, {seal.hashed_bytes / 1e9:.2f} GB): every reuse "
        f"(stat against the manifest) {spread([c.seconds for c in checks])}; "
        f"full RECORD hash {seal.seconds:.2f} s"
    )


def _manifest_key(env_dir: Path) -> dict:
    """The question the environment's manifest answers (what provision made it for)."""
    return json.loads((env_dir / installed.MANIFEST).read_bytes().partition(b"\n")[0])["key"]


def _pip_path(interpreter: str, lock: str, tmp: Path) -> tuple[float, float]:
    started = time.monotonic()
    subprocess.run([interpreter, "-m", "venv", str(tmp / "env")], check=True, env=ENV)
    (tmp / "lock.txt").write_text(lock)
    pip = [
        str(tmp / "env/bin/python"),
        "-m",
        "pip",
        "--isolated",
        "install",
        "-q",
        "-r",
        str(tmp / "lock.txt"),
    ]
    subprocess.run(pip, check=True, env=ENV)
    return _import(tmp / "env/bin/python", started)


def _uv_path(interpreter: str, lock: str, tmp: Path) -> tuple[float, float]:
    started = time.monotonic()
    uv = uv_binary()
    subprocess.run([uv, "venv", "-q", "--python", interpreter, str(tmp / "env")], check=True, env=ENV)
    (tmp / "lock.txt").write_text(lock)
    install = [
        uv,
        "pip",
        "install",
        "-q",
        "--python",
        str(tmp / "env/bin/python"),
        "-r",
        str(tmp / "lock.txt"),
    ]
    subprocess.run(install, check=True, env=ENV)
    return _import(tmp / "env/bin/python", started)


def _suite_path(row: Row, tmp: Path) -> tuple[float, float]:
    """The suite's own provisioning of a new environment, in a scratch cache.

    The scratch cache gets a copy of the suite's cached resolutions, so it measures building an
    environment from warm caches without touching the environment other runs use.
    """
    real_cache = cache_dir()
    for kind in ("release", "resolve"):
        shutil.copytree(real_cache / kind, tmp / "cache" / kind)
    os.environ[CACHE_ENV] = str(tmp / "cache")
    try:
        started = time.monotonic()
        env = provision(row, timeout=900, log=lambda _: None)
        return _import(env.python, started)
    finally:
        os.environ[CACHE_ENV] = str(real_cache)


def _nox_session(row: Row, tmp: Path, overheads: list[float]) -> tuple[float, float]:
    """A real ``nox -s verify(...)``, timed from its start to the import probe's log line.

    Also notes the suite's own overhead: the session's wall time less what its record says
    provisioning and the probes took.
    """
    matrix = tmp / "m.toml"
    matrix.write_text(f'[defaults]\npython = "{row.python}"\n[[row]]\ntf = "{row.tf}"\nmetal = "none"\n')
    env = {**ENV, "TFCOMPAT_EXPECTED": str(matrix), "TFCOMPAT_REPORTS": str(tmp / "reports")}
    session = f"verify(tf='{row.tf}', metal='none')"
    fit = ["--data", "synthetic", "--model", "small", "--samples", "64", "--epochs", "1"]
    argv = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", session, "--", *fit]
    started = time.monotonic()
    nox = subprocess.Popen(argv, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    provisioned = imported = None
    for line in nox.stderr:
        if "provisioned in" in line:
            provisioned = time.monotonic() - started
        if "probe import:" in line:
            imported = time.monotonic() - started
    wall = time.monotonic() - started
    if nox.wait() != 0 or imported is None:
        raise SystemExit("the nox verify session failed")
    [path] = (tmp / "reports" / "sessions").glob("*.json")
    record = json.loads(path.read_text())
    inside = record["provision"]["seconds"] + sum(p["seconds"] for p in record["probes"].values())
    overheads.append(wall - inside)
    return provisioned, imported


def _import(python: Path, started: float) -> tuple[float, float]:
    installed = time.monotonic() - started
    run = run_probe(python, probe_script("import"), [], timeout=300, env=ENV)
    if run.result is None:
        raise SystemExit(f"import probe failed:\n{run.stderr_tail}")
    return installed, time.monotonic() - started


if __name__ == "__main__":
    main()
