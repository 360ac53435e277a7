"""The real nox, run on this checkout's noxfile with a test's matrix and reports folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.paths import ROOT

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
