"""Records → the few the report needs, folded one at a time so that memory does not grow with
the folder: per row and machine the newest record with a verdict (a run with no verdict never
hides it), the newest without one when it is newer (to say so), and the two newest with a
verdict per row and computer (what changed). Map cells merge the same way, cell by cell.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from tfcompat.matrix import Matrix, MatrixError, Row, canonical_version
from tfcompat.record import MapCell, Record, Release
from tfcompat.report.model import Skipped
from tfcompat.report.read import Loaded, Unread
from tfcompat.report.text import clean

RowKey = tuple[str, str, str]  # (python, tf, metal)
#: A machine: OS, architecture, chip ("" for none), OS version. A computer is the first three.
MachineKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Entry:
    name: str
    path: str  # the record's file
    record: Record
    row: Row | None  # the matrix row (None for a map record)
    machine: MachineKey
    order: tuple[float, str]  # (start time as a timestamp, name): newest is largest

    @property
    def has_verdict(self) -> bool:
        return self.record.verdict != "error"


@dataclass
class Collection:
    count: int = 0
    verify: dict[tuple[MachineKey, RowKey], Entry] = field(default_factory=dict)
    verify_no_verdict: dict[tuple[MachineKey, RowKey], Entry] = field(default_factory=dict)
    abi: dict[RowKey, Entry] = field(default_factory=dict)
    abi_no_verdict: dict[RowKey, Entry] = field(default_factory=dict)
    #: (kind, computer or (), row) → the two newest records with a verdict, newest first
    history: dict[tuple, list[Entry]] = field(default_factory=dict)
    #: machine → its newest verify record (for its host facts and its table's date)
    machines: dict[MachineKey, Entry] = field(default_factory=dict)
    map_cells: dict[tuple[str, str], tuple[Entry, MapCell]] = field(default_factory=dict)
    tf_releases: dict[str, Release] = field(default_factory=dict)
    metal_releases: dict[str, Release] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    repaired: list[Skipped] = field(default_factory=list)


def collect(items: Iterable[Loaded | Unread], matrix: Matrix) -> Collection:
    rows = {row.key: row for row in matrix.rows}
    found = Collection()
    for item in items:
        if isinstance(item, Unread):
            found.skipped.append(Skipped(name=item.name, reason=item.reason))
            continue
        entry = _entry(item, rows)
        if isinstance(entry, str):
            found.skipped.append(Skipped(name=item.name, reason=entry))
            continue
        found.count += 1
        if item.repaired:
            found.repaired.append(
                Skipped(name=item.name, reason="text that is not valid Unicode was replaced with \ufffd")
            )
        _add(found, entry)
    return found


def _entry(item: Loaded, rows: dict[RowKey, Row]) -> Entry | str:
    record = item.record
    try:
        order = (record.started.timestamp(), item.name)
    except (OverflowError, ValueError, OSError):
        return "'started' is out of range"
    host = record.host
    machine = _machine(host.os, host.machine, host.chip, host.os_version)
    if record.kind == "map":
        return Entry(item.name, item.path, record, None, machine, order)
    key = (record.row.python, record.row.tf, record.row.metal)
    if key not in rows:
        return "row not in expected.toml"
    return Entry(item.name, item.path, record, rows[key], machine, order)


def _add(found: Collection, entry: Entry) -> None:
    kind = entry.record.kind
    if kind == "map":
        _add_map(found, entry)
        return
    key = entry.row.key
    if kind == "abi":
        verdicts, others, computer = found.abi, found.abi_no_verdict, ()
        group = key
    else:
        verdicts, others, computer = found.verify, found.verify_no_verdict, entry.machine[:3]
        group = (entry.machine, key)
        newest = found.machines.get(entry.machine)
        if newest is None or newest.order < entry.order:
            found.machines[entry.machine] = entry
    if not entry.has_verdict:
        _keep_newest(others, group, entry)
        return
    _keep_newest(verdicts, group, entry)
    history = found.history.setdefault((kind, computer, key), [])
    if len(history) < 2 or history[1].order < entry.order:
        history.append(entry)
        history.sort(key=lambda e: e.order, reverse=True)
        del history[2:]


def _keep_newest(table: dict, key, entry: Entry) -> None:
    held = table.get(key)
    if held is None or held.order < entry.order:
        table[key] = entry


def _add_map(found: Collection, entry: Entry) -> None:
    """Merge a map record cell by cell: a newer cell replaces an older one unless it has no
    prediction and the older one has."""
    if not entry.has_verdict or entry.record.map is None:
        return
    section = entry.record.map
    for release in section.tf_releases:
        if _release(release.version):
            found.tf_releases.setdefault(release.version, release)
    for release in section.metal_releases:
        if _release(release.version):
            found.metal_releases.setdefault(release.version, release)
    for cell in section.cells:
        if not (_release(cell.tf) and _release(cell.metal)):
            continue  # versions become anchors and commands: only canonical release strings
        held = found.map_cells.get((cell.tf, cell.metal))
        if held is None:
            found.map_cells[(cell.tf, cell.metal)] = (entry, cell)
            continue
        newer = held[0].order < entry.order
        if (newer and (cell.abi is not None or held[1].abi is None)) or (
            not newer and held[1].abi is None and cell.abi is not None
        ):
            found.map_cells[(cell.tf, cell.metal)] = (entry, cell)


def _release(version: str) -> bool:
    try:
        canonical_version(version, where="map record")
    except MatrixError:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _machine(os_name: str, arch: str, chip: str | None, version: str) -> MachineKey:
    return (clean(os_name), clean(arch), clean(chip), clean(version))
