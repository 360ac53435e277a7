"""Fixtures and hooks only: the code the tests share is in ``tests/helpers/``.

Fixtures: a real TensorFlow environment, the recorded local index, the one matrix factory.
Hooks: the tests' own cache, and the fault catalogue's summary at the end of the run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from helpers.environments import build_wheel
from helpers.faults import FAULTS
from helpers.index import recorded_index
from helpers.matrix import write_matrix
from helpers.paths import PYTHON, ROOT, TF_MAIN
from tfcompat.core.matrix import Matrix, Row, load_matrix
from tfcompat.verify import provision as provisioning


def pytest_configure(config):
    # The tests keep to themselves: their own cache of environments, resolutions and wheel facts
    # (about 3 GB when warm), not the user's, unless TFCOMPAT_CACHE says where.
    os.environ.setdefault("TFCOMPAT_CACHE", str(ROOT / ".cache" / "tfcompat-tests"))


@pytest.fixture(scope="session")
def tf_python() -> Path:
    """The interpreter of a real tensorflow-cpu environment, provisioned by the suite itself."""
    row = Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)
    return provisioning.provision(row, timeout=900, log=lambda _: None).python


@pytest.fixture
def matrix(request, tmp_path) -> Matrix:
    """The test module's ``MATRIX`` (TOML text, or a list of rows for ``write_matrix``), written
    to the test's folder and loaded; its file is ``matrix.path``."""
    rows = request.module.MATRIX
    path = tmp_path / "expected.toml"
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        write_matrix(path, rows)
    return load_matrix(path)


@pytest.fixture
def index(tmp_path, monkeypatch):
    """The recorded real index answers on localhost (helpers.index.recorded_index)."""
    with recorded_index(tmp_path / "cache", monkeypatch) as server:
        yield server


@pytest.fixture
def sample(tmp_path, monkeypatch):
    """``make()`` provisions an environment holding a small wheel made here, offline, into a uv
    cache of the test's own; it returns (python, reused, log lines)."""
    build_wheel(tmp_path / "wheels")
    monkeypatch.setenv("TFCOMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_FIND_LINKS", str(tmp_path / "wheels"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    interpreter, version = provisioning.find_interpreter(PYTHON, deadline=time.monotonic() + 60)

    def make(lock: str = "tfcompat-sample==1.0\n") -> tuple[Path, bool, list[str]]:
        lines: list[str] = []
        python, reused = provisioning.environment(
            interpreter, version, lock, deadline=time.monotonic() + 120, log=lines.append
        )
        return python, reused, lines

    return make


# The fault catalogue (issue 5): every fault is one or more tests marked ``@pytest.mark.fault(N)``,
# and the run ends with one summary line per fault.
_fault_of_test: dict[str, list[int]] = {}
_fault_outcomes: dict[int, list[str]] = {}


def pytest_collection_modifyitems(items):
    for item in items:
        numbers = [marker.args[0] for marker in item.iter_markers("fault")]
        if numbers:
            _fault_of_test[item.nodeid] = numbers


def pytest_runtest_logreport(report):
    if report.nodeid in _fault_of_test and (report.when == "call" or report.outcome != "passed"):
        for number in _fault_of_test[report.nodeid]:
            _fault_outcomes.setdefault(number, []).append(report.outcome)


def pytest_terminal_summary(terminalreporter):
    if not _fault_outcomes:
        return
    terminalreporter.section("fault catalogue")
    for number, description in FAULTS.items():
        outcomes = _fault_outcomes.get(number, [])
        if not outcomes:
            verdict = "not run"
        elif any(outcome == "failed" for outcome in outcomes):
            verdict = "FAILED"
        elif all(outcome == "passed" for outcome in outcomes):
            verdict = f"handled ({len(outcomes)} test{'s' if len(outcomes) > 1 else ''})"
        else:
            verdict = "skipped"
        terminalreporter.write_line(f"fault {number:2}: {description}: {verdict}")
