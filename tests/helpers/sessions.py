"""The real nox, run on this checkout's noxfile with a test's matrix and reports folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.paths import ROOT, TF_MAIN

#: The shortest real fit the tests run: the small CNN on 64 synthetic samples, two epochs (so that
#: the per-epoch progress lines can be counted); ``nox -s verify -- *QUICK_FIT``, or the fit
#: probe's own arguments.
QUICK_FIT = [
    "--data",
    "synthetic",
    "--model",
    "small",
    "--samples",
    "64",
    "--epochs",
    "2",
    "--batch-size",
    "32",
]
NOX = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py")]


def nox_env(matrix: Path, reports: Path, env: dict | None = None) -> dict[str, str]:
    """This process's environment with the test's matrix, reports folder and ``env`` on top."""
    return {**os.environ, "TFCOMPAT_EXPECTED": str(matrix), "TFCOMPAT_REPORTS": str(reports), **(env or {})}


def run_nox(*args: str, matrix: Path, reports: Path, env: dict | None = None, timeout: float = 900):
    """Run the real nox on this repo's noxfile with a test matrix and reports folder."""
    return subprocess.run(
        [*NOX, *args],
        capture_output=True,
        text=True,
        env=nox_env(matrix, reports, env),
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def records(reports: Path, pattern: str = "*.json") -> list[Path]:
    """The record files a run left in ``reports/sessions`` (each verify record has its ``.logs``
    folder beside it)."""
    return sorted((reports / "sessions").glob(pattern))


def record_dicts(reports: Path, pattern: str = "*.json") -> list[dict]:
    return [json.loads(path.read_text()) for path in records(reports, pattern)]


#: The rows of the real runs the tests share (conftest's ``verify_run`` and ``real_records``): two
#: plugin rows (abi reads the real macOS wheels; one loads, one fails on a missing symbol) and the
#: TensorFlow-alone control, verified here for real with tensorflow-cpu. The speed-up probe gets
#: 1 s, so it times out here: a failed measurement, never a failed pair.
REAL_ROWS = [
    {"tf": TF_MAIN, "metal": "1.1.0", "supports": "yes"},
    {"tf": "2.18.0", "metal": "1.1.0", "supports": "ambiguous"},
    {"tf": TF_MAIN, "metal": "none"},
]
REAL_TIMEOUTS = {"speedup": 1}
#: The shared map's releases (conftest's ``map_run``): TensorFlow 2.5.0 (not installable from
#: wheels), 2.11.0 (Adam compiled with XLA), 2.12.0 and 2.20.0 (the renamed library), each with
#: tensorflow-metal 0.1.2, 0.7.0, 0.8.0 and 1.2.0.
MAP_ARGS = [
    *("--tf", "2.5.0", "--tf", "2.11.0", "--tf", "2.12.0", "--tf", "2.20.0"),
    *("--metal", "0.1.2", "--metal", "0.7.0", "--metal", "0.8.0", "--metal", "1.2.0"),
]
CONTROL = f"verify(tf='{TF_MAIN}', metal='none')"


@dataclass(frozen=True)
class Run:
    """A real nox run a fixture made once: its matrix file, reports folder and outcome."""

    matrix: Path
    reports: Path
    done: subprocess.CompletedProcess
