"""What tensorflow-metal claims: the table in its newest wheel, and the matrix's rows against it.

The table is read from the wheel's own ``*.dist-info/METADATA``, the primary source: the newest
release's macOS arm64 wheel (about 1.4 MB) is found through the index's PEP 691 JSON API,
streamed to a temporary file, checked against the index's sha256 and opened as a zip. PyPI's
``/pypi/NAME/VERSION/json`` carries the same text, but it is not served everywhere (mirrors,
some proxies answer 404) and the project-wide ``/pypi/NAME/json`` only describes the latest
release. The METADATA text is cached by the wheel's sha256 (it cannot change) under
``$TFCOMPAT_CACHE/claims/``, so a warm run downloads only the index answer (about 35 kB).

``nox -s claims`` reports every row whose ``supports`` disagrees with the table and exits 1 if
any does; ``-- --write`` fixes them in the matrix file, comments and layout kept.
"""

from __future__ import annotations

import argparse
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from packaging.version import Version

from tfcompat.core import cache
from tfcompat.core.config import cache_dir
from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import FilesError, temporary_folder, write_atomic
from tfcompat.core.matrix import MatrixError, load_matrix, parse_matrix
from tfcompat.index import pypi
from tfcompat.index.wheels import WheelError, WheelRef, download

PLUGIN = "tensorflow-metal"
# One TensorFlow series or a range of them ("v2.14-v2.18"), and one plugin version ("v1.1.0").
_TF_CELL = re.compile(r"v?(\d+)\.(\d+)(?:\s*-\s*v?(\d+)\.(\d+))?")
_METAL_CELL = re.compile(r"v?(\d+(?:\.\d+)+)")
#: A cell of the line under a Markdown table's header, spaces stripped: ``---``, ``:--``, ``--:``.
#: Cells are matched one by one: the pattern of a whole line (two ``\s*`` with only optional parts
#: between them) took time quadratic in its length, half an hour for a 1 MB line.
_SEPARATOR_CELL = re.compile(r":?-+:?")
#: The longest table cell read: "v2.14 - v2.18" has 13 characters.
MAX_CELL = 40
#: The largest METADATA read from a wheel: tensorflow-metal's is about 5 kB.
MAX_METADATA_BYTES = 1 << 20


class ClaimsError(TfcompatError):
    """The index or the table cannot be read as expected; the message is one line."""


@dataclass(frozen=True)
class TableRow:
    """One row of the table: a range of TensorFlow series (``(2, 14)`` to ``(2, 18)``) and a plugin."""

    first: tuple[int, int]
    last: tuple[int, int]
    metal: Version


@dataclass(frozen=True)
class Table:
    """The compatibility table of one tensorflow-metal wheel, rows in published order."""

    wheel: str  # the tensorflow-metal version whose METADATA holds the table
    rows: tuple[TableRow, ...]


def main(argv: list[str], *, matrix_path: Path, log: Callable[[str], None]) -> int:
    """``nox -s claims [-- --write]``: 0 when every claim agrees (or was fixed), 1 otherwise."""
    parser = argparse.ArgumentParser(prog="nox -s claims --", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="fix the disagreeing rows in the matrix file")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad option (argparse has said why)
        return int(exc.code or 0)
    try:
        matrix = load_matrix(matrix_path)
        table = newest_table()
    except TfcompatError as exc:  # the matrix, the index or the table
        log(f"claims: {exc}")
        return 1
    wrong = [
        (row, want)
        for row in matrix.rows
        if row.has_plugin and (want := claim(row.tf, row.metal, table)) != row.supports
    ]
    source = f"tensorflow-metal {table.wheel}'s table"
    for row, want in wrong:
        log(f"{row.label}: supports = {row.supports!r}, {source} says {want!r}")
    if not wrong:
        log(f"all {sum(row.has_plugin for row in matrix.rows)} claims agree with {source}")
        return 0
    if not args.write:
        log(f"claims disagreeing with {source}: {len(wrong)}; `nox -s claims -- --write` fixes them")
        return 1
    document = tomlkit.parse(matrix_path.read_text(encoding="utf-8"))
    for row, want in wrong:
        document["row"][row.number - 1]["supports"] = want
    try:
        write_matrix(matrix_path, document)
    except (MatrixError, OSError) as exc:
        log(f"claims: nothing written: {exc}")
        return 1
    log(f"rows fixed in {matrix_path}: {len(wrong)}")
    return 0


def claim(tf: str, metal: str, table: Table) -> str:
    """What ``table`` claims for the pair: ``"yes"``, ``"no"`` or ``"ambiguous"``.

    A pair is ``yes`` when a row names the plugin and its TensorFlow range holds the TF series
    (``2.16.0rc0`` is series 2.16), ``no`` when no row does. The exception: when the table's last
    row names another plugin than the wheel it comes from, that row is most likely the newest
    wheel's own, labelled with an older version (1.2.0's ``v2.18 | v1.1.0``, see
    pypi-claims.md); so TF from that row's series on, with either plugin, is ``ambiguous``.
    """
    series = Version(tf).release[:2]
    plugin = Version(metal)
    last, wheel = table.rows[-1], Version(table.wheel)
    if last.metal != wheel and plugin in (last.metal, wheel) and series >= last.first:
        return "ambiguous"
    if any(row.metal == plugin and row.first <= series <= row.last for row in table.rows):
        return "yes"
    return "no"


def parse_table(text: str, *, wheel: str) -> Table:
    """The first Markdown table in ``text`` with ``tensorflow`` and ``tensorflow-metal`` columns."""
    lines = [line.strip() for line in text.splitlines()]
    start = next((n for n, line in enumerate(lines) if _is_header(line)), None)
    if start is None:
        raise ClaimsError(f"tensorflow-metal {wheel}: no compatibility table in its METADATA")
    if start + 1 == len(lines) or not _is_separator(lines[start + 1]):
        raise ClaimsError(f"tensorflow-metal {wheel}: the compatibility table has no separator line")
    columns = [cell.lower() for cell in _cells(lines[start])]
    tf_column, metal_column = columns.index("tensorflow"), columns.index("tensorflow-metal")
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line) + ["", ""]  # a short row fails the cell patterns below, not with IndexError
        rows.append(_table_row(cells[tf_column], cells[metal_column], wheel=wheel, line=line))
    if not rows:
        raise ClaimsError(f"tensorflow-metal {wheel}: the compatibility table has no rows")
    return Table(wheel=wheel, rows=tuple(rows))


def _is_header(line: str) -> bool:
    columns = [cell.lower() for cell in _cells(line)]
    return line.startswith("|") and "tensorflow" in columns and "tensorflow-metal" in columns


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def _is_separator(line: str) -> bool:
    """``| --- | :-: |``: cells of dashes (with a colon at either end), the last one after a
    pipe; the outer pipes are optional, and the cell after the last pipe may be empty."""
    parts = line.removeprefix("|").split("|")
    *cells, last = [part.strip() for part in parts]
    return (
        bool(cells)
        and all(_SEPARATOR_CELL.fullmatch(cell) for cell in cells)
        and (last == "" or _SEPARATOR_CELL.fullmatch(last) is not None)
    )


def _table_row(tf: str, metal: str, *, wheel: str, line: str) -> TableRow:
    short = len(tf) <= MAX_CELL and len(metal) <= MAX_CELL  # digits become ints: bounded first
    tf_match, metal_match = short and _TF_CELL.fullmatch(tf), short and _METAL_CELL.fullmatch(metal)
    if not tf_match or not metal_match:
        raise ClaimsError(f"tensorflow-metal {wheel}: unexpected table row {line[:80]!r}")
    major, minor, last_major, last_minor = tf_match.groups()
    first = (int(major), int(minor))
    last = (int(last_major), int(last_minor)) if last_major else first
    if last < first:
        raise ClaimsError(f"tensorflow-metal {wheel}: backwards TensorFlow range in table row {line[:80]!r}")
    return TableRow(first=first, last=last, metal=Version(metal_match.group(1)))


def newest_table() -> Table:
    """The table of the newest final tensorflow-metal release with a macOS arm64 wheel."""
    return table_of(pypi.macos_wheels(PLUGIN))


def table_of(wheels: dict[Version, list[pypi.WheelFile]]) -> Table:
    """The table of the newest final release among ``wheels`` (tensorflow-metal's, by version)."""
    finals = [version for version in wheels if not version.is_prerelease]
    if not finals:
        raise ClaimsError(f"{PLUGIN}: the index lists no final release with a macOS arm64 wheel")
    wheel = wheels[max(finals)][0]
    return parse_table(read_metadata(wheel), wheel=str(wheel.version))


def read_metadata(wheel: pypi.WheelFile) -> str:
    """The text of the wheel's ``*.dist-info/METADATA``, from the cache or by downloading it."""
    entry, question = _metadata_entry(wheel.sha256)
    cached = cache.load(entry, question)
    if cached is not None:
        try:
            return cached.decode("utf-8")
        except UnicodeDecodeError:
            cache.discard(entry, "its content is not UTF-8 text")
    try:
        with temporary_folder("claims") as tmp:
            path = _download(wheel, tmp)
            try:
                with zipfile.ZipFile(path) as archive:
                    names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
                    if len(names) != 1:
                        raise ClaimsError(f"{wheel.filename}: {len(names)} METADATA files, expected one")
                    if archive.getinfo(names[0]).file_size > MAX_METADATA_BYTES:
                        raise ClaimsError(f"{wheel.filename}: its METADATA is larger than 1 MiB")
                    text = archive.read(names[0]).decode("utf-8")
            except (zipfile.BadZipFile, zlib.error, UnicodeDecodeError) as exc:
                raise ClaimsError(f"{wheel.filename}: unreadable wheel ({exc})") from None
        remember_metadata(wheel.sha256, text)
    except FilesError as exc:
        raise ClaimsError(str(exc)) from None
    return text


def remember_metadata(sha256: str, text: str) -> None:
    """Cache ``text`` as the METADATA of the wheel whose content hash is ``sha256``."""
    cache.store(*_metadata_entry(sha256), text.encode("utf-8"))


def _metadata_entry(sha256: str) -> tuple[Path, dict]:
    return cache_dir() / "claims" / f"{sha256}.METADATA", {"wheel_sha256": sha256, "member": "METADATA"}


def _download(wheel: pypi.WheelFile, folder: Path) -> Path:
    """Stream ``wheel`` into ``folder`` and check its sha256 (the downloader of the engine's wheels)."""
    ref = WheelRef(
        name=PLUGIN,
        version=str(wheel.version),
        filename=wheel.filename,
        url=wheel.url,
        sha256=wheel.sha256,
        size=0,
    )
    try:
        return download(ref, folder)
    except WheelError as exc:
        raise ClaimsError(str(exc)) from None


def write_matrix(path: Path, document: tomlkit.TOMLDocument) -> None:
    """Replace the matrix file with ``document``, only if the result passes the matrix checks.

    A matrix reached through a symlink is written at its target; the file gets the umask's mode.
    """
    text = tomlkit.dumps(document)
    parse_matrix(path, text)
    write_atomic(path, text)
