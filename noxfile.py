# /// script
# dependencies = ["nox[uv]>=2026.10.20", "packaging>=24", "tabulate[widechars]>=0.9", "tomlkit>=0.13"]
# ///
"""tfcompat: which tensorflow releases work with tensorflow-metal, found out for real.

Sessions, generated from expected.toml (or TFCOMPAT_EXPECTED):
  verify(tf=..., metal=...)  provision the pair with uv and run the probes (tag: verify)
  abi(tf=..., metal=...)     predict from the macOS wheels whether the plugin loads (tag: abi)
  report                     the compatibility table from every record so far
  discover, claims           keep expected.toml current: new releases, PyPI's claims
  tests, lint                the suite's own checks (not in the default run)

Plain `nox` runs abi for every row and then report; on a Mac it runs verify first.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tfcompat.matrix import MatrixError, load_matrix  # noqa: E402
from tfcompat.runner import interrupt_on_sigterm  # noqa: E402

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
interrupt_on_sigterm()

try:
    MATRIX = load_matrix()
except MatrixError as exc:
    sys.exit(f"tfcompat: {exc}")

ALL_ROWS = [nox.param(row.tf, row.metal, id=f"tf={row.tf!r}, metal={row.metal!r}") for row in MATRIX.rows]
PLUGIN_ROWS = [
    nox.param(row.tf, row.metal, id=f"tf={row.tf!r}, metal={row.metal!r}")
    for row in MATRIX.rows
    if row.has_plugin
]
ON_A_MAC = platform.system() == "Darwin"
nox.options.sessions = ["verify", "abi", "report"] if ON_A_MAC else ["abi", "report"]


@nox.session(venv_backend="none", tags=["verify"])
@nox.parametrize(["tf", "metal"], ALL_ROWS)
def verify(session: nox.Session, tf: str, metal: str) -> None:
    """Verify one pair for real: a uv environment, then the import, devices, fit, agree, speedup probes."""
    from tfcompat.provision import NotRunnableHere
    from tfcompat.verify import probe_args, run_verify

    row = MATRIX.find(tf, metal)
    try:
        args = probe_args(session.posargs)
    except SystemExit:
        session.error("bad probe options after --: see python probes/fit.py --help")
    try:
        record, path = run_verify(row, timeouts=MATRIX.timeouts, args=args, log=session.log)
    except NotRunnableHere as exc:
        session.skip(f"not run here: {exc}")
    _finish(session, record, path)


@nox.session(venv_backend="none", tags=["abi"])
@nox.parametrize(["tf", "metal"], PLUGIN_ROWS)
def abi(session: nox.Session, tf: str, metal: str) -> None:
    """Predict from the real macOS wheels, on any OS, whether the plugin loads at import."""
    from tfcompat.predict import run_abi

    record, path = run_abi(MATRIX.find(tf, metal), log=session.log)
    _finish(session, record, path)


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Write the compatibility table (Markdown, HTML, JSON) from every record so far."""
    from tfcompat.record import reports_dir
    from tfcompat.report import write_reports

    for path in write_reports(MATRIX, reports_dir()):
        session.log(f"wrote {path}")


@nox.session(venv_backend="none", default=False)
def discover(session: nox.Session) -> None:
    """Propose rows for releases newer than the matrix (-- --write appends them)."""
    from tfcompat import discover

    _run_tool(session, discover.main)


@nox.session(venv_backend="none", default=False)
def claims(session: nox.Session) -> None:
    """Check every row's claim against the newest plugin's own table (-- --write fixes them)."""
    from tfcompat import claims

    _run_tool(session, claims.main)


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (real uv, nox, TensorFlow wheels and macOS wheels)."""
    session.install(*nox.project.dependency_groups(nox.project.load_toml("pyproject.toml"), "test"))
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """Check formatting and lint everything with ruff."""
    session.install("ruff")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


# Helpers


def _run_tool(session: nox.Session, main) -> None:
    """Run a matrix tool's ``main`` on the matrix in use; its non-zero exit ends the session red."""
    from tfcompat.matrix import matrix_path

    code = main(session.posargs, matrix_path=matrix_path(), log=session.log)
    if code:
        session.error(f"{session.name} ended with exit code {code}")


def _finish(session: nox.Session, record: dict, path: Path) -> None:
    """Log where the record went; end the session red unless the pair verified."""
    session.log(f"record: {path}")
    if record["verdict"] == "error":
        from tfcompat.verify import no_verdict

        session.error(
            f"no verdict: {record['abi']['error']}" if record["kind"] == "abi" else no_verdict(record)
        )
    if record["verdict"] == "fail":
        session.error(f"{_row_name(record)} fails: {_first_failure(record)}")


def _row_name(record: dict) -> str:
    row = record["row"]
    plugin = "alone" if row["metal"] == "none" else f"+ tensorflow-metal {row['metal']}"
    return f"tf {row['tf']} {plugin}"


def _first_failure(record: dict) -> str:
    if record["kind"] == "abi":
        return record["abi"]["first"].splitlines()[0]
    failed = next(name for name, probe in record["probes"].items() if probe["status"] == "fail")
    return f"{failed}: {record['probes'][failed]['signature']}"
