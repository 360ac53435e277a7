"""The benchmarks are code: each imports without running anything, and each runs its ``--quick``
pass for real, as CI's smoke run. Their figures are in the README with their commands; no figure
is asserted here (timings are not judgements)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.paths import ROOT
from helpers.records import map_record
from tfcompat.core.record import write_record

FOLDER = ROOT / "benchmarks"
BENCHMARKS = sorted(path.stem for path in FOLDER.glob("*.py") if not path.stem.startswith("_"))
#: A line each benchmark's --quick run prints once it has measured.
MEASURED = {
    "abi": "== warm (no network)",
    "agree": "named checks together",
    "doctor": "| environment | first run | warm median |",
    "floors": "| tensorflow-metal | install floor |",
    "hazard": "warm: hazard ",
    "main_job": "warm (no network): ",
    "import_floor": "floor ",
    "map": "warm (no network): ",
    "provision": "environment check (",
    "report": "write_reports: median ",
    "speedup_null": "the probe's own work (after import)",
}


def run(argv: list[str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, check=False, **options
    )


def test_every_benchmark_has_a_smoke_run():
    assert sorted(MEASURED) == BENCHMARKS


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmark_imports_and_runs_nothing(name):
    code = f"import sys; sys.path.insert(0, {str(FOLDER)!r}); import {name}; print({name}.main.__name__)"
    done = run(["-c", code], timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "main\n", "")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[] if name == "report" else [pytest.mark.slow, pytest.mark.network])
        for name in BENCHMARKS
    ],
)
def test_a_benchmark_runs_quick(name, tmp_path):
    extra = []
    if name == "report":  # and a map record of every release, as nox -s map writes one
        extra = ["--map", str(write_record(map_record("2026-11-01T09:00:00.000000+00:00"), tmp_path))]
    done = run([str(FOLDER / f"{name}.py"), "--quick", *extra], timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert MEASURED[name] in done.stdout, done.stdout[-3000:]
