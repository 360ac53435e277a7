"""The matrix: the rows of ``expected.toml`` and their validation.

Every value that later reaches a command line or a file name passes through here first, so
the rest of the package can trust a ``Row``: versions are canonical PEP 440 strings, the Python
is ``3.N``, constraints are plain requirement strings with no URL.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from tfcompat.core import config
from tfcompat.core.errors import TfcompatError

#: The claims a row can carry, read from tensorflow-metal's own PyPI table.
CLAIMS = ("yes", "no", "ambiguous")
#: The probes, in the order they run; each has a timeout in ``[defaults.timeouts]``.
PROBES = ("import", "devices", "fit", "agree", "speedup")
#: Timeouts (seconds) for the probes and for provisioning, unless expected.toml says otherwise.
DEFAULT_TIMEOUTS = {
    "provision": 900.0,
    "import": 300.0,
    "devices": 300.0,
    "fit": 3600.0,
    "agree": 600.0,
    "speedup": 900.0,
}
NO_PLUGIN = "none"

_ROW_KEYS = {"tf", "metal", "supports", "python", "constraints", "note"}
_DEFAULT_KEYS = {"python", "timeouts"}
#: ``3.N`` without leading zeros, so that one Python has one spelling ("3.10", never "3.010").
_PYTHON = re.compile(r"3\.(?:[0-9]|[1-9][0-9])")
#: The Pythons a row may name: CPython 3.8 (the oldest with macOS arm64 wheels) to 3.20.
PYTHONS = range(8, 21)
#: Bounds on a timeout (seconds): a second at least, a week at most (a timeout is a promise to stop).
TIMEOUT_RANGE = (1.0, 7 * 24 * 3600.0)
#: Longest version string accepted: it becomes part of a command line and of file names.
MAX_VERSION = 32
#: Longest note and constraint: they are shown on one line of the report.
MAX_TEXT = 300


class MatrixError(TfcompatError):
    """A problem in the matrix file; the message is one line naming file, row and key."""


@dataclass(frozen=True)
class Row:
    """One pair to check: a TensorFlow release, a plugin release (or none), and the claim."""

    number: int
    python: str
    tf: str
    metal: str  # a version, or NO_PLUGIN for TensorFlow alone
    supports: str | None  # None for a row with no plugin: there is no claim to test
    constraints: tuple[str, ...] = ()
    note: str = ""

    @property
    def has_plugin(self) -> bool:
        return self.metal != NO_PLUGIN

    @property
    def key(self) -> tuple[str, str, str]:
        """A row's identity: the same pair may appear once per Python."""
        return (self.python, self.tf, self.metal)

    @property
    def label(self) -> str:
        """How messages name the row: ``row 3 (python=3.10, tf=2.19.0, metal=1.2.0)``."""
        return f"row {self.number} (python={self.python}, tf={self.tf}, metal={self.metal})"


@dataclass(frozen=True)
class Matrix:
    """The whole of expected.toml: its rows, in file order, and the defaults."""

    path: Path
    rows: tuple[Row, ...]
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    default_python: str = "3.10"  # rows on it keep the short session name

    def find(self, python: str, tf: str, metal: str) -> Row:
        for row in self.rows:
            if row.key == (python, tf, metal):
                return row
        raise MatrixError(f"{self.path.name}: no row with python={python}, tf={tf}, metal={metal}")


def load_matrix(path: Path | None = None) -> Matrix:
    """Read and validate the matrix; raise ``MatrixError`` at the first problem."""
    path = path or config.matrix_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MatrixError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MatrixError(f"{path}: cannot read: {exc}") from None
    return parse_matrix(path, text)


def parse_matrix(path: Path, text: str) -> Matrix:
    """Validate ``text`` as the matrix file ``path`` (named in messages); raise ``MatrixError``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{path.name}: invalid TOML: {exc}") from None
    return _parse(path, data)


def canonical_version(text: object, *, where: str) -> str:
    """The PEP 440 version ``text`` names, which must already be in canonical form.

    Canonical form is required (not just parseable) because the string becomes part of a
    command line and a file name: ``2.16.0rc0`` passes, ``2.16.0-rc0`` and ``v2.16`` do not.
    """
    if not isinstance(text, str):
        raise MatrixError(f"{where}: must be a string, got {_show(text)}")
    try:
        version = Version(text)
    except InvalidVersion:
        raise MatrixError(f"{where}: {_show(text)} is not a valid version") from None
    if version.local is not None or str(version) != text:
        raise MatrixError(f"{where}: {_show(text)} is not a canonical release version")
    if len(text) > MAX_VERSION or any(part > 9999 for part in version.release):
        raise MatrixError(f"{where}: {_show(text)} is not a plausible release (too long or too large)")
    return text


def _parse(path: Path, data: dict) -> Matrix:
    name = path.name
    unknown = set(data) - {"defaults", "row"}
    if unknown:
        raise MatrixError(f"{name}: unknown top-level key {_show(sorted(unknown)[0])}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise MatrixError(f"{name}: [defaults] must be a table")
    unknown = set(defaults) - _DEFAULT_KEYS
    if unknown:
        raise MatrixError(f"{name}: [defaults]: unknown key {_show(sorted(unknown)[0])}")
    python = _python(defaults.get("python", "3.10"), where=f"{name}: [defaults] key 'python'")
    timeouts = _timeouts(defaults.get("timeouts", {}), where=f"{name}: [defaults.timeouts]")

    tables = data.get("row")
    if not isinstance(tables, list) or not tables:
        raise MatrixError(f"{name}: no rows: add at least one [[row]] table")
    rows: list[Row] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, table in enumerate(tables, start=1):
        row = _row(name, number, table, python)
        if row.key in seen:
            raise MatrixError(f"{name}: {row.label}: duplicate row, same as row {seen[row.key]}")
        seen[row.key] = number
        rows.append(row)
    return Matrix(path=path, rows=tuple(rows), timeouts=timeouts, default_python=python)


def _row(name: str, number: int, table: object, default_python: str) -> Row:
    where = f"{name}: row {number}"
    if not isinstance(table, dict):
        raise MatrixError(f"{where}: must be a table")
    # Name the row by its versions as soon as they are known, so every later message can.
    for key in ("tf", "metal"):
        if key not in table:
            raise MatrixError(f"{where}: missing key {key!r}")
    tf = canonical_version(table["tf"], where=f"{where}: key 'tf'")
    metal = table["metal"]
    if metal != NO_PLUGIN:
        metal = canonical_version(metal, where=f"{where} (tf={tf}): key 'metal'")
    python = _python(
        table.get("python", default_python), where=f"{where} (tf={tf}, metal={metal}): key 'python'"
    )
    where = f"{where} (python={python}, tf={tf}, metal={metal})"
    unknown = set(table) - _ROW_KEYS
    if unknown:
        raise MatrixError(f"{where}: unknown key {_show(sorted(unknown)[0])}")

    if metal == NO_PLUGIN:
        if "supports" in table:
            raise MatrixError(f"{where}: key 'supports': a row with metal = 'none' has no claim")
        supports = None
    else:
        if "supports" not in table:
            raise MatrixError(f"{where}: missing key 'supports' (one of {', '.join(CLAIMS)})")
        supports = table["supports"]
        if supports not in CLAIMS:
            raise MatrixError(
                f"{where}: key 'supports': must be one of {', '.join(CLAIMS)}, got {_show(supports)}"
            )
    note = table.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_TEXT or "\n" in note:
        raise MatrixError(
            f"{where}: key 'note': must be one line of at most {MAX_TEXT} characters, got {_show(note)}"
        )
    return Row(
        number=number,
        python=python,
        tf=tf,
        metal=metal,
        supports=supports,
        constraints=_constraints(table.get("constraints", []), where=f"{where}: key 'constraints'"),
        note=note,
    )


def _python(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not _PYTHON.fullmatch(value) or int(value[2:]) not in PYTHONS:
        raise MatrixError(
            f'{where}: must be a Python version from 3.{PYTHONS[0]} to 3.{PYTHONS[-1]} like "3.10", '
            f"got {_show(value)}"
        )
    return value


def _timeouts(value: object, *, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise MatrixError(f"{where}: must be a table")
    timeouts = dict(DEFAULT_TIMEOUTS)
    for key, seconds in value.items():
        if key not in DEFAULT_TIMEOUTS:
            raise MatrixError(f"{where}: unknown key {_show(key)} (known: {', '.join(DEFAULT_TIMEOUTS)})")
        low, high = TIMEOUT_RANGE
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not low <= seconds <= high:
            raise MatrixError(
                f"{where}: key {key!r}: must be a number of seconds from {low:g} to {high:g}, "
                f"got {_show(seconds)}"
            )
        timeouts[key] = float(seconds)
    return timeouts


def _constraints(value: object, *, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise MatrixError(f"{where}: must be a list of requirement strings")
    checked = []
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_TEXT:
            raise MatrixError(
                f"{where}: {_show(item)} is not a requirement string of at most {MAX_TEXT} characters"
            )
        try:
            requirement = Requirement(item)
        except InvalidRequirement:
            raise MatrixError(f"{where}: {_show(item)} is not a valid requirement") from None
        # A URL would let a matrix file point the installer anywhere; constraints pin versions.
        if requirement.url:
            raise MatrixError(f"{where}: {_show(item)}: URLs are not allowed, pin a version")
        checked.append(str(requirement))
    return tuple(checked)


def _show(value: object) -> str:
    """A value as a message shows it: quoted, and cut so one line stays one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
