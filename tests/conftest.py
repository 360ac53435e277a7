"""Shared fixtures: a real TensorFlow environment, real nox runs, real C plugin libraries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tfcompat.core.matrix import Row
from tfcompat.verify.provision import provision

ROOT = Path(__file__).resolve().parent.parent
# The tests keep to themselves: their own cache of environments, resolutions and wheel facts
# (about 3 GB when warm), not the user's, unless TFCOMPAT_CACHE says where.
os.environ.setdefault("TFCOMPAT_CACHE", str(ROOT / ".cache" / "tfcompat-tests"))
#: The row Python for tests that build TensorFlow environments: the one running the tests,
#: which exists on every machine that can run them.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
#: tensorflow-cpu releases with wheels for Python 3.10 - 3.12; 2.17.0 is the reference machine.md measures.
TF_MAIN, TF_OTHER = "2.17.0", "2.16.1"


@pytest.fixture(scope="session")
def tf_python() -> Path:
    """The interpreter of a real tensorflow-cpu environment, provisioned by the suite itself."""
    row = Row(number=1, python=PYTHON, tf=TF_MAIN, metal="none", supports=None)
    return provision(row, timeout=900, log=lambda _: None).python


def write_matrix(path: Path, rows: list[dict], *, timeouts: dict | None = None) -> Path:
    """A matrix file with ``rows`` (dicts of row keys) for the test's own runs."""
    lines = ["[defaults]", f'python = "{PYTHON}"']
    if timeouts:
        lines.append("[defaults.timeouts]")
        lines += [f"{key} = {value}" for key, value in timeouts.items()]
    for row in rows:
        lines.append("[[row]]")
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in row.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_nox(*args: str, matrix: Path, reports: Path, env: dict | None = None, timeout: float = 900):
    """Run the real nox on this repo's noxfile with a test matrix and reports folder."""
    full_env = {
        **os.environ,
        "TFCOMPAT_EXPECTED": str(matrix),
        "TFCOMPAT_REPORTS": str(reports),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


# C sources for plugins that fail the way a wrong tensorflow-metal does, for real, on Linux.
PLUGIN_SOURCES = {
    "undefined": "extern void tfcompat_missing_symbol(void);\n"
    "void TF_InitPluggableDevice(void) { tfcompat_missing_symbol(); }\n",
    "segfault": "__attribute__((constructor)) static void crash(void) { *(volatile int *)0 = 1; }\n",
    "abort": "#include <stdlib.h>\n__attribute__((constructor)) static void crash(void) { abort(); }\n",
    # The abort tensorflow-metal causes when two plugins register the Metal platform.
    "registered_twice": "#include <stdio.h>\n#include <stdlib.h>\n__attribute__((constructor)) static void twice(void) "
    '{ fputs("platform is already registered with name: \\"METAL\\"\\n", stderr); abort(); }\n',
    "hang": "#include <unistd.h>\n__attribute__((constructor)) static void hang(void) { for (;;) pause(); }\n",
    "dependency": "extern int tfcompat_dep(void);\nint TF_InitPluggableDevice(void) { return tfcompat_dep(); }\n",
}


def build_plugin(folder: Path, kind: str) -> Path:
    """Compile a plugin library of ``kind`` with the system C compiler; return its path.

    ``dependency`` links against ``libtfcompatdep.so`` and then deletes it, so loading the plugin
    fails with the loader's "cannot open shared object file".
    """
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{kind}.c"
    source.write_text(PLUGIN_SOURCES[kind])
    library = folder / f"lib{kind}_plugin.so"
    extra: list[str] = []
    if kind == "dependency":
        dep_source = folder / "dep.c"
        dep_source.write_text("int tfcompat_dep(void) { return 0; }\n")
        dep = folder / "libtfcompatdep.so"
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(dep), str(dep_source)], check=True)
        extra = [f"-L{folder}", "-ltfcompatdep"]
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source), *extra], check=True)
    if kind == "dependency":
        (folder / "libtfcompatdep.so").unlink()
    return library


# The fault catalogue (issue 5): every fault is one or more tests marked ``@pytest.mark.fault(N)``,
# and the run ends with one summary line per fault.
FAULTS = {
    1: "plugin with an undefined symbol",
    2: "plugin whose dependency library is missing",
    3: "segfault while importing",
    4: "abort while importing",
    5: "a probe that hangs",
    6: "a probe that prints no JSON, or 100 MB of output",
    7: "a fit whose loss goes NaN",
    8: "no network while provisioning",
    9: "a release that does not exist",
    10: "no wheel for this Python or platform",
    11: "Ctrl-C or SIGTERM in the middle of a session",
    12: "two sessions at once",
    13: "corrupt, truncated, empty, foreign JSON in the reports folder",
    14: "malformed expected.toml",
    15: "a version string or error text crafted to escape",
    16: "abi on a corrupt or non-Mach-O library",
    17: "a reused environment with files deleted, cut or replaced",
    18: "a cache entry garbled, cut, emptied or answering another question",
    19: "a full disk under records, reports, the cache, an environment or a download",
    20: "a run killed with SIGKILL mid-download or mid-write",
    21: "a configured folder that is a file, cannot be made, or is read-only",
    22: "files written 0600, or a symlinked matrix replaced by a file",
}
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
