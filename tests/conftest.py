"""Fixtures and hooks only: the code the tests share is in ``tests/helpers/``.

Fixtures: a real TensorFlow environment, the recorded local index, the one matrix factory.
Hooks: the tests' own cache, and the fault catalogue's summary at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from helpers.environments import build_wheel
from helpers.faults import FAULTS
from helpers.index import recorded_index
from helpers.matrix import write_matrix
from helpers.paths import PYTHON, TF_MAIN
from helpers.sessions import CONTROL, MAP_ARGS, QUICK_FIT, REAL_ROWS, REAL_TIMEOUTS, Run, run_nox
from tfcompat.core import config
from tfcompat.core.matrix import Matrix, Row, load_matrix
from tfcompat.verify import provision as provisioning


def pytest_configure(config):
    # The tests keep to themselves: their own cache of environments, resolutions and wheel facts
    # (about 3 GB when warm), not the user's, unless TFCOMPAT_CACHE says where. It is the
    # machine's, like uv's: every checkout (and every clean clone CI makes) shares it, and its
    # entries prove themselves, so a warm one changes no answer.
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ.setdefault("TFCOMPAT_CACHE", str(cache_home / "tfcompat-tests"))


@pytest.fixture(scope="session")
def tf_python() -> Path:
    """The interpreter of a real tensorflow-cpu environment, provisioned by the suite itself."""
    row = Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)
    return provisioning.provision(row, timeout=900, log=lambda _: None).python


@pytest.fixture(scope="session")
def verify_run(tmp_path_factory, tf_python) -> Run:
    """One real ``nox -s verify`` of the TensorFlow-alone row (quick fit, speed-up given 1 s), alone
    in its reports folder, as a CI job runs it; the tests that read it must not change it."""
    folder = tmp_path_factory.mktemp("verify-run")
    matrix = write_matrix(folder / "expected.toml", REAL_ROWS, timeouts=REAL_TIMEOUTS)
    done = run_nox("-s", CONTROL, "--", *QUICK_FIT, matrix=matrix, reports=folder / "reports")
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(matrix, folder / "reports", done)


@pytest.fixture(scope="session")
def real_records(tmp_path_factory, verify_run) -> Run:
    """A folder of real records: ``verify_run``'s, and ``nox -s abi`` on its matrix (the real
    macOS wheels: 2.17.0 + 1.1.0 loads, 2.18.0 + 1.1.0 fails)."""
    reports = tmp_path_factory.mktemp("real-records") / "reports"
    shutil.copytree(verify_run.reports, reports)
    done = run_nox("-s", "abi", matrix=verify_run.matrix, reports=reports)
    assert "abi(tf='2.18.0', metal='1.1.0')" in done.stderr, done.stderr[
        -3000:
    ]  # red: it fails, as predicted
    return Run(verify_run.matrix, reports, done)


@pytest.fixture(scope="session")
def map_run(tmp_path_factory) -> Run:
    """One real ``nox -s map`` over 4 TensorFlow x 4 plugin releases (MAP_ARGS), without a matrix,
    in its own reports folder: the map tests assert against its one record."""
    folder = tmp_path_factory.mktemp("map-run")
    done = run_nox("-s", "map", "--", *MAP_ARGS, matrix=folder / "no-matrix.toml", reports=folder / "reports")
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(folder / "no-matrix.toml", folder / "reports", done)


@pytest.fixture(scope="session")
def damageable_tf(tmp_path_factory) -> Path:
    """A ``TFCOMPAT_CACHE`` of its own for the tests that damage a real TensorFlow environment, so
    the suite's environment, which other tests may be running at that moment, stays whole. It
    starts with the suite's cached release date and resolution; the environment is its own."""
    cache = tmp_path_factory.mktemp("damageable-cache")
    for kind in ("release", "resolve"):
        if (config.cache_dir() / kind).is_dir():
            shutil.copytree(config.cache_dir() / kind, cache / kind, dirs_exist_ok=True)
    return cache


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


#: Session fixtures that build one real thing for the whole run (an environment, a verify
#: session, a map): every test that reads one runs in that thing's xdist group, so under
#: ``--dist loadgroup`` two workers never build the same thing.
SHARED = {
    "verify_run": "verify-run",
    "real_records": "verify-run",
    "map_run": "map-run",
    "damageable_tf": "damageable-tf",
}
#: Fixtures that need PyPI on a cold cache: a test that uses one must be marked ``network``.
NEEDS_INDEX = {"tf_python", "verify_run", "real_records", "map_run", "damageable_tf"}


def pytest_itemcollected(item):
    # Here, not in pytest_collection_modifyitems: xdist's worker reads the groups in that hook.
    # A test marked xdist_group shares something no fixture holds (test_readme's main job: the
    # complete map in the tests' cache, built by the first of its runs).
    marked = {marker.args[0] for marker in item.iter_markers("xdist_group")}
    groups = sorted({SHARED[name] for name in set(item.fixturenames) & SHARED.keys()} | marked)
    assert len(groups) <= 1, f"{item.nodeid} reads things of two groups: {groups}"
    if groups:
        if not marked:
            item.add_marker(pytest.mark.xdist_group(groups[0]))
        _name_the_group(item, groups[0])
    # Carried to the xdist controller with the test's reports, for the catalogue's summary.
    item.user_properties += [("fault", marker.args[0]) for marker in item.iter_markers("fault")]


def _name_the_group(item, group: str) -> None:
    """xdist's loadgroup keeps a group on one worker by a ``@group`` suffix on its tests' node ids,
    which xdist 3.8 writes to ``item._nodeid``; pytest 9.2 derives the node id from ``item._id``
    instead, so the suffix (and the grouping) is lost. Until xdist follows, the suffix is set here."""
    config = item.config
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return  # not an xdist worker of a --dist loadgroup run
    node_id = getattr(item, "_id", None)
    if hasattr(type(node_id), "parse") and not item.nodeid.endswith(f"@{group}"):
        item._id = type(node_id).parse(f"{item.nodeid}@{group}")


def pytest_collection_modifyitems(config, items):
    # The slow tests first: the workers start on the long ones, and the short ones fill in after.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    untrue = [
        f"{item.nodeid} (uses {', '.join(sorted(set(item.fixturenames) & NEEDS_INDEX))})"
        for item in items
        if set(item.fixturenames) & NEEDS_INDEX and not item.get_closest_marker("network")
    ]
    if untrue:
        raise pytest.UsageError("tests that need PyPI but are not marked network: " + "; ".join(untrue))


# The fault catalogue (issue 5): every fault is one or more tests marked ``@pytest.mark.fault(N)``,
# and the run ends with one summary line per fault.
_fault_outcomes: dict[int, list[str]] = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        for key, number in report.user_properties:
            if key == "fault":
                _fault_outcomes.setdefault(number, []).append(report.outcome)


#: The folder each shared thing is built in (``tmp_path_factory.mktemp(name)``), by fixture.
BUILT_IN = {"verify_run": "verify-run", "real_records": "real-records", "map_run": "map-run"}


def pytest_sessionfinish(session):
    """On the xdist controller: each shared thing was built by one worker at most (the groups
    held); if not, the run fails with the line that says which."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if hasattr(session.config, "workerinput") or factory is None or factory._basetemp is None:
        return
    twice = []
    for fixture, folder in BUILT_IN.items():
        found = [p for p in factory.getbasetemp().glob(f"popen-gw*/{folder}*") if not p.is_symlink()]
        if len(found) > 1:
            twice.append(
                f"{fixture} was built {len(found)} times ({', '.join(sorted(p.parent.name for p in found))})"
            )
    if twice:
        session.config._shared_built_twice = twice
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    for line in getattr(terminalreporter.config, "_shared_built_twice", []):
        terminalreporter.write_line(f"shared real things: {line}: their tests were not kept in one group")
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
