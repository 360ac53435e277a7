"""Processes a test watches: whether one has ended, and which still map a library."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers.paths import ROOT


def pid_gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` ends within ``within`` seconds (on Linux and macOS alike)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _running(pid):
            return True
        time.sleep(0.1)
    return False


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (which has run its last instruction)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return not state.stdout.strip().startswith("Z")  # no answer from ps: still counted as running


def processes_mapping(library: Path) -> list[int]:
    """The processes that have ``library`` mapped (Linux's /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as maps:
                if str(library) in maps.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def run_python(code: str, *, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter of this checkout, with ``env`` added to this environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
