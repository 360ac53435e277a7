"""New releases: TensorFlow and tensorflow-metal releases newer than every row, proposed as rows.

The releases come from the index's PEP 691 JSON answers (``pypi.macos_wheels``, two requests
of about 0.8 MB and 35 kB). They are not cached: they must be fresh, and the whole session takes
about 0.7 s from PyPI (measured cold and warm; the newest plugin's METADATA is cached by
``claims``). What counts as a release:

- one with a macOS arm64 wheel that is not yanked: without one the plugin cannot run it, and a
  yanked release was withdrawn by its publisher (PEP 592);
- a final release; pre- and dev releases are left out, except the newest one of a package when
  it is newer than every final release (a coming release, such as 2.22.0rc0 before 2.22.0):
  it is proposed so it is tested early, as 2.16.0rc0 was. It never stands in as "the newest
  plugin" or one of "the newest TensorFlow series" below; the final release replaces it when
  it ships.

Proposed rows: each new TensorFlow release with the newest plugin, and each new plugin with
the newest release of each of the three newest TensorFlow series (2.21.0, 2.20.0, 2.19.1 rather
than 2.21.0 with its own patch releases). Each row's
``supports`` is ``claims.claim`` against the newest plugin's table; its Python is the matrix
default (the key is left out).

``nox -s discover`` prints the rows as TOML on stdout and changes nothing; ``-- --write`` appends
them to the matrix file, comments and layout kept.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from packaging.version import Version

from tfcompat.core.errors import TfcompatError
from tfcompat.core.matrix import Matrix, MatrixError, load_matrix
from tfcompat.index import pypi
from tfcompat.upkeep import claims

TENSORFLOW = "tensorflow"
#: How many of the newest TensorFlow series each new plugin is paired with.
NEWEST_SERIES = 3


@dataclass(frozen=True)
class Proposal:
    """A row to add: the pair and what the newest plugin's table claims for it."""

    tf: str
    metal: str
    supports: str


def main(argv: list[str], *, matrix_path: Path, log: Callable[[str], None]) -> int:
    """``nox -s discover [-- --write]``: 0 when the proposals were printed or written, else 1."""
    parser = argparse.ArgumentParser(prog="nox -s discover --", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="append the proposed rows to the matrix file")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad option (argparse has said why)
        return int(exc.code or 0)
    try:
        matrix = load_matrix(matrix_path)
        tf_releases = releases(pypi.macos_wheels(TENSORFLOW))
        metal_wheels = pypi.macos_wheels(claims.PLUGIN)
        table = claims.table_of(metal_wheels)
    except TfcompatError as exc:  # the matrix, the index or the table
        log(f"discover: {exc}")
        return 1
    proposals = propose(matrix, tf_releases=tf_releases, metal_releases=releases(metal_wheels), table=table)
    if not proposals:
        newest = f"tensorflow {max(tf_releases, default='none')}, tensorflow-metal {table.wheel}"
        log(f"nothing to propose: the index has nothing newer than the matrix (newest: {newest})")
        return 0
    log(f"proposed rows: {len(proposals)}; claims from tensorflow-metal {table.wheel}'s table")
    if not args.write:
        print(tomlkit.dumps({"row": _tables(proposals)}), end="")
        return 0
    try:
        append_rows(matrix_path, proposals)
    except (MatrixError, OSError) as exc:
        log(f"discover: nothing written: {exc}")
        return 1
    for proposal in proposals:
        log(f"appended tf={proposal.tf}, metal={proposal.metal}, supports={proposal.supports}")
    return 0


def releases(wheels: dict[Version, list[pypi.WheelFile]]) -> list[Version]:
    """The releases that count (see the module docstring), oldest first."""
    finals = sorted(version for version in wheels if not version.is_prerelease)
    coming = [version for version in wheels if version.is_prerelease and (not finals or version > finals[-1])]
    return finals + ([max(coming)] if coming else [])


def propose(
    matrix: Matrix, *, tf_releases: list[Version], metal_releases: list[Version], table: claims.Table
) -> list[Proposal]:
    """The rows to add for releases newer than every row, newest TensorFlow first.

    ``table`` is the newest plugin's: its version is the one new TensorFlow releases are paired with.
    """
    plugin_rows = [row for row in matrix.rows if row.has_plugin]
    newest_tf_row = max(Version(row.tf) for row in matrix.rows)
    newest_metal_row = max((Version(row.metal) for row in plugin_rows), default=None)
    new_tf = [version for version in tf_releases if version > newest_tf_row]
    new_metal = [v for v in metal_releases if newest_metal_row is None or v > newest_metal_row]
    newest_plugin = Version(table.wheel)
    pairs = {(tf, newest_plugin) for tf in new_tf}
    pairs |= {(tf, metal) for metal in new_metal for tf in newest_series(tf_releases)}
    # Every pair is new in one of its versions, so none can be a row already.
    return [
        Proposal(str(tf), str(metal), claims.claim(str(tf), str(metal), table))
        for tf, metal in sorted(pairs, reverse=True)
    ]


def newest_series(tf_releases: list[Version], count: int = NEWEST_SERIES) -> list[Version]:
    """The newest final release of each of the ``count`` newest TensorFlow series, newest first."""
    newest: dict[tuple[int, ...], Version] = {}
    for version in sorted(v for v in tf_releases if not v.is_prerelease):
        newest[version.release[:2]] = version
    return sorted(newest.values(), reverse=True)[:count]


def append_rows(path: Path, proposals: list[Proposal]) -> None:
    """Append ``proposals`` to the matrix file's rows, one blank line before each as the file has."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    rows = document["row"]
    for table in _tables(proposals):
        if not rows[-1].as_string().endswith("\n\n"):
            rows[-1].add(tomlkit.nl())
        rows.append(table)
    claims.write_matrix(path, document)


def _tables(proposals: list[Proposal]) -> tomlkit.items.AoT:
    rows = tomlkit.aot()
    for proposal in proposals:
        table = tomlkit.table()
        table.update(tf=proposal.tf, metal=proposal.metal, supports=proposal.supports)
        rows.append(table)
    return rows
