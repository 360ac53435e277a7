# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "nox[uv]==2026.10.20",
#   "uv==0.13.9",
#   "packaging>=24",
#   "tabulate[widechars]>=0.9",
#   "tomlkit>=0.13",
#   "msgspec>=0.19",
#   "jinja2>=3.1",
# ]
# ///
"""tfcompat: which tensorflow releases work with tensorflow-metal, found out for real.

Run it with ``python3 noxfile.py [nox options]`` (any Python 3: it puts the pinned uv in
``.tools/`` and hands over to ``uv run --locked noxfile.py``, which provides a Python 3.11+ and
exactly the dependencies of noxfile.py.lock) or with your own ``nox``. Sessions, generated from
expected.toml (or TFCOMPAT_EXPECTED):
  verify(tf=..., metal=...)  provision the pair with uv and run the probes (tags: verify, control)
  abi(tf=..., metal=...)     predict from the macOS wheels whether the plugin loads (tag: abi)
  report                     the compatibility table from every record so far
  map                        every TensorFlow x tensorflow-metal release on the index, predicted
  discover, claims           keep expected.toml current: new releases, PyPI's claims
  availability               make the table of when Apple's frameworks gained each symbol (-- SDK...)
  doctor                     check the environment you have (-- [PYTHON]) and print the one fix
  tests, lint                the suite's own checks (not in the default run)
  lock                       update the locks of the suite's own dependencies (noxfile.py.lock, uv.lock)
A row on another Python than the matrix default is named ``verify(python='3.9', tf=..., metal=...)``.

Plain ``nox`` (the main job) runs map, abi for every row and report; on a Mac verify first.
A pair that fails ends its session *failed*; a session that could not decide (interpreter,
network, disk, a damaged environment) ends *aborted* with "no verdict: ..." and the fix; a row
this OS cannot run is *skipped* with the reason.
"""

from __future__ import annotations

import contextlib
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    # ``python3 noxfile.py``: any Python 3 (Apple's 3.9 too) hands over to uv before importing nox.
    from tfcompat.core.bootstrap import hand_over

    hand_over(Path(__file__).resolve(), sys.argv[1:])

import nox  # noqa: E402

from tfcompat.core.matrix import Matrix, MatrixError, Row, load_matrix  # noqa: E402
from tfcompat.verify.runner import interrupt_on_sigterm  # noqa: E402

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
interrupt_on_sigterm()

try:
    MATRIX: Matrix | None = load_matrix()
    MATRIX_ERROR = ""
except MatrixError as exc:
    # Only the sessions that need the matrix stop; lint, tests and -l still work.
    MATRIX, MATRIX_ERROR = None, f"tfcompat: {exc}"
    print(MATRIX_ERROR, file=sys.stderr)

ON_A_MAC = platform.system() == "Darwin"
#: The index's answers of this nox run: the map asks the index, the abi sessions after it reuse them.
INDEX_ANSWERS: dict = {}
# The main job: the map of every release pair (the answer for every Python), the matrix's rows
# through the same engine, then the report; a Mac verifies its rows for real first.
nox.options.sessions = ["verify", "map", "abi", "report"] if ON_A_MAC else ["map", "abi", "report"]


def _params(rows) -> list:
    """One nox parameter per row, named as the design card names it: the Python only when the
    row is not on the matrix's default Python, e.g. ``python='3.9', tf='2.8.0', metal='0.4.0'``."""
    params = []
    for row in rows:
        name = f"tf={row.tf!r}, metal={row.metal!r}"
        if row.python != MATRIX.default_python:
            name = f"python={row.python!r}, {name}"
        tags = [] if row.has_plugin else ["control"]
        params.append(nox.param(row.python, row.tf, row.metal, id=name, tags=tags))
    return params


ALL_ROWS = _params(MATRIX.rows) if MATRIX else []
PLUGIN_ROWS = _params(row for row in MATRIX.rows if row.has_plugin) if MATRIX else []


@nox.session(venv_backend="none", tags=["verify"])
@nox.parametrize(["py", "tf", "metal"], ALL_ROWS)
def verify(session: nox.Session, py: str, tf: str, metal: str) -> None:
    """Verify one pair for real: a uv environment, then the import, devices, fit, agree, speedup probes."""
    from tfcompat.verify.run import probe_args, run_verify

    _check_folders(session)
    row = _row(session, py, tf, metal)
    try:
        args = probe_args(session.posargs)
    except SystemExit:
        session.error("bad probe options after --: see python probes/fit.py --help")
    with _outcome(session):
        _finish(session, *run_verify(row, timeouts=MATRIX.timeouts, args=args, log=session.log))


@nox.session(venv_backend="none", tags=["abi"])
@nox.parametrize(["py", "tf", "metal"], PLUGIN_ROWS)
def abi(session: nox.Session, py: str, tf: str, metal: str) -> None:
    """Predict from the real macOS wheels, on any OS, whether the plugin loads at import."""
    from tfcompat.predict.row import run_abi

    _check_folders(session)
    with _outcome(session):
        _finish(session, *run_abi(_row(session, py, tf, metal), log=session.log, answers=INDEX_ANSWERS))


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Write the compatibility table (Markdown, HTML, JSON) from every record so far."""
    from tfcompat.core.config import reports_dir
    from tfcompat.report import write_reports

    _check_folders(session)
    with _outcome(session):
        paths = write_reports(_matrix(session), reports_dir())
    for path in paths:
        session.log(f"wrote {path}")


@nox.session(name="map", venv_backend="none", default=False)
def map_(session: nox.Session) -> None:
    """Predict every TensorFlow x tensorflow-metal release on the index, per Python, on any OS."""
    from tfcompat.predict.pairmap import main

    _check_folders(session)
    with _outcome(session):
        outcome = main(session.posargs, log=session.log, answers=INDEX_ANSWERS)
    if outcome:
        _finish(session, *outcome)


@nox.session(venv_backend="none", default=False)
def doctor(session: nox.Session) -> None:
    """Check the environment you have (-- [PYTHON] [--json] [--fix]) and print the one command to fix it."""
    from tfcompat.doctor import main

    _doctor_outcome(session, main(session.posargs))


@nox.session(venv_backend="none", default=False)
def discover(session: nox.Session) -> None:
    """Propose rows for releases newer than the matrix (-- --write appends them)."""
    from tfcompat.upkeep import discover

    _run_tool(session, discover.main)


@nox.session(venv_backend="none", default=False)
def claims(session: nox.Session) -> None:
    """Check every row's claim against the newest plugin's own table (-- --write fixes them)."""
    from tfcompat.upkeep import claims

    _run_tool(session, claims.main)


@nox.session(default=False)
def availability(session: nox.Session) -> None:
    """Make the table of when each system symbol the wheels import appeared in macOS (-- SDK...)."""
    _install_locked(session, "availability", script=True)
    session.run("python", "-m", "tfcompat.upkeep.availability", *session.posargs)


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (real uv, nox, TensorFlow wheels and macOS wheels)."""
    _install_locked(session, "test", script=True)
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """Check formatting and lint with ruff; check the GitHub workflows with zizmor and their schema."""
    _install_locked(session, "lint")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    # zizmor's offline audits (no GitHub API); a finding of medium severity or higher fails.
    session.run("zizmor", "--offline", "--min-severity", "medium", ".github/workflows")
    # The structure, against the GitHub workflow schema check-jsonschema ships.
    workflows = sorted(str(path) for path in Path(".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session(venv_backend="none", default=False)
def lock(session: nox.Session) -> None:
    """Update the locks of the suite's own dependencies to the newest releases (then run the tests)."""
    from tfcompat.core.uvcall import uv_binary

    session.run(uv_binary(), "lock", "--quiet", "--upgrade", "--script", "noxfile.py", external=True)
    session.run(uv_binary(), "lock", "--quiet", "--upgrade", external=True)


# Helpers


def _install_locked(session: nox.Session, group: str, *, script: bool = False) -> None:
    """Install exactly what is locked: ``group`` of pyproject.toml (uv.lock), and with ``script``
    the noxfile's own dependencies (noxfile.py.lock); hashes checked. A stale lock is an error
    whose fix is ``nox -s lock``: an upstream release changes nothing until the lock is updated."""
    from tfcompat.core.uvcall import uv_binary

    folder = Path(session.create_tmp())
    exports = [["--only-group", group]] + ([["--script", "noxfile.py"]] if script else [])
    files = []
    for number, selection in enumerate(exports):
        files += ["-r", str(folder / f"locked-{number}.txt")]
        session.run(
            uv_binary(),
            "export",
            "--quiet",
            "--locked",
            "--no-header",
            *selection,
            "-o",
            files[-1],
            external=True,
            silent=True,
        )
    session.install(*files)


def _matrix(session: nox.Session) -> Matrix:
    """The matrix, or the session ends with the matrix's one-line error."""
    if MATRIX is None:
        session.error(MATRIX_ERROR)
    return MATRIX


def _row(session: nox.Session, python: str, tf: str, metal: str) -> Row:
    return _matrix(session).find(python, tf, metal)


def _run_tool(session: nox.Session, main) -> None:
    """Run a matrix tool's ``main`` on the matrix in use; its non-zero exit ends the session red."""
    from tfcompat.core.config import matrix_path

    _check_folders(session, matrix="--write" in session.posargs)
    code = main(session.posargs, matrix_path=matrix_path(), log=session.log)
    if code:
        session.error(f"{session.name} ended with exit code {code}")


def _check_folders(session: nox.Session, *, matrix: bool = False) -> None:
    """End the session with one line if a configured folder cannot be written."""
    from tfcompat.core.config import check_folders

    problems = check_folders(matrix=matrix)
    if problems:
        session.error("; ".join(problems))


@contextlib.contextmanager
def _outcome(session: nox.Session):
    """The one place an error becomes a session's outcome: a row this OS cannot run is
    *skipped*; the machine's failure (``no_verdict``) *aborted* with ``no verdict: …`` and the
    fix; any other error *aborted* with its line. Never a traceback."""
    from tfcompat.core.errors import TfcompatError
    from tfcompat.verify.provision import NotRunnableHere

    try:
        yield
    except NotRunnableHere as exc:
        session.skip(f"not run here: {exc}")
    except TfcompatError as exc:
        session.error(f"no verdict: {exc}" if exc.no_verdict else str(exc))


def _doctor_outcome(session: nox.Session, code: int) -> None:
    """The doctor's exit code as the session's outcome: 0 *successful*, 1 (a problem found)
    *failed*, 2 (cannot tell) *aborted*. nox exits 1 for both of the latter; ``python3
    noxfile.py -s doctor`` exits with the doctor's own 2 (see the end of this file)."""
    if code == 1:
        nox.logger.logger.error("doctor: a problem found (exit 1)")
        raise nox.command.CommandFailed("doctor: a problem found")
    if code:
        session.error(f"doctor: cannot tell (exit {code})")


def _finish(session: nox.Session, record, path: Path) -> None:
    """Log where the record went; a failing pair ends the session *failed*, no verdict *aborted*,
    a pair that cannot be installed from wheels *skipped*."""
    session.log(f"record: {path}")
    if record.verdict == "error":
        session.error(f"no verdict: {record.no_verdict_reason()}")
    if record.verdict == "not_installable":
        session.skip(f"not installable from wheels: {record.provision.error}")
    if record.verdict == "fail":
        reason = f"{record.label()} fails: {record.first_failure()}"
        nox.logger.logger.error(reason)
        raise nox.command.CommandFailed(reason)


if __name__ == "__main__":
    # ``uv run noxfile.py ...``: the script block above gave this interpreter nox and the rest.
    try:
        nox.main()
    except SystemExit as exc:
        # nox exits 1 for every session that did not pass. The doctor's "cannot tell" is its
        # own exit code 2 (issue 25): when the doctor ran alone and could not tell, say so.
        # (nox loads this file again as its own module: the doctor's runs are read from the
        # package, which both share.)
        doctor_cli = sys.modules.get("tfcompat.doctor.cli")
        runs = doctor_cli.RUNS if doctor_cli else []
        raise SystemExit(2 if exc.code == 1 and runs == [2] else exc.code) from None
