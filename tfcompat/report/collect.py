"""Records → the few the report shows, chosen by their heads and decoded in full only then.

Per row and machine: the newest record with a verdict (a run with no verdict never hides it) and
the newest without one when it is newer (to say so); per row and computer, the two newest with a
verdict (what changed). A chosen record that does not load in full is listed as skipped and the
next one takes its place. Map records merge cell by cell.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from tfcompat.core.matrix import Matrix, MatrixError, Row, canonical_version
from tfcompat.core.record import MapCell, Record, Release
from tfcompat.report.model import Skipped
from tfcompat.report.read import Scanned, Unread, load
from tfcompat.report.text import clean

RowKey = tuple[str, str, str]  # (python, tf, metal)
#: A machine: OS, architecture, chip ("" for none), OS version. A computer is the first three.
MachineKey = tuple[str, str, str, str]
REPAIRED = "text that is not valid Unicode was replaced with \ufffd"


@dataclass(slots=True)
class Entry:
    scanned: Scanned
    row: Row | None  # the matrix row (None for a map record)
    machine: MachineKey
    order: tuple[float, str]  # (start time as a timestamp, name): newest is largest
    record: Record | None = None  # the whole record, once it is chosen and loaded

    @property
    def name(self) -> str:
        return self.scanned.name

    @property
    def path(self) -> str:
        return self.scanned.path

    @property
    def has_verdict(self) -> bool:
        return self.scanned.header.verdict != "error"


@dataclass
class Collection:
    count: int = 0
    verify: dict[tuple[MachineKey, RowKey], Entry] = field(default_factory=dict)
    verify_no_verdict: dict[tuple[MachineKey, RowKey], Entry] = field(default_factory=dict)
    abi: dict[RowKey, Entry] = field(default_factory=dict)
    abi_no_verdict: dict[RowKey, Entry] = field(default_factory=dict)
    #: (kind, computer or (), row) → the two newest records with a verdict, newest first
    history: dict[tuple, list[Entry]] = field(default_factory=dict)
    #: machine → its newest verify record's head (for its host facts and its table's date)
    machines: dict[MachineKey, Entry] = field(default_factory=dict)
    map_cells: dict[tuple[str, str], tuple[Entry, MapCell]] = field(default_factory=dict)
    tf_releases: dict[str, Release] = field(default_factory=dict)
    metal_releases: dict[str, Release] = field(default_factory=dict)
    #: Why the newest map record is not whole (None: it is, or there is none).
    map_error: tuple[tuple, str] | None = None
    skipped: list[Skipped] = field(default_factory=list)
    repaired: list[Skipped] = field(default_factory=list)


def collect(items: Iterable[Scanned | Unread], matrix: Matrix) -> Collection:
    rows = {row.key: row for row in matrix.rows}
    found = Collection()
    groups: dict[tuple, list[Entry]] = {}
    for item in items:
        if isinstance(item, Unread):
            found.skipped.append(Skipped(name=item.name, reason=item.reason))
            continue
        entry = _entry(item, rows)
        if isinstance(entry, str):
            found.skipped.append(Skipped(name=item.name, reason=entry))
            continue
        if item.header.kind == "map":
            # A map that could not answer everything (the index, the disk) still gives what it
            # did answer, cell by cell: the answer comes from what is known, never from nothing.
            if _load(found, entry):
                found.count += 1
                _add_map(found, entry)
            continue
        found.count += 1
        computer = entry.machine[:3] if item.header.kind == "verify" else ()
        groups.setdefault((item.header.kind, computer, entry.row.key), []).append(entry)
        if item.header.kind == "verify":
            newest = found.machines.get(entry.machine)
            if newest is None or newest.order < entry.order:
                found.machines[entry.machine] = entry
    for (kind, computer, key), entries in groups.items():
        _choose(found, kind, computer, key, sorted(entries, key=lambda e: e.order, reverse=True))
    found.skipped.sort(key=lambda item: item.name)
    found.repaired.sort(key=lambda item: item.name)
    return found


def _entry(item: Scanned, rows: dict[RowKey, Row]) -> Entry | str:
    header = item.header
    try:
        order = (header.started.timestamp(), item.name)
    except (OverflowError, ValueError, OSError):
        return "'started' is out of range"
    machine = _machine(header.host.os, header.host.machine, header.host.chip, header.host.os_version)
    if header.kind == "map":
        return Entry(item, None, machine, order)
    key = (header.row.python, header.row.tf, header.row.metal)
    if key not in rows:
        return "row not in expected.toml"
    return Entry(item, rows[key], machine, order)


def _choose(found: Collection, kind: str, computer: tuple, key: RowKey, newest_first: list[Entry]) -> None:
    """Load, newest first, only the records the report shows from one row's history."""
    verdicts, others = (
        (found.verify, found.verify_no_verdict) if kind == "verify" else (found.abi, found.abi_no_verdict)
    )
    history: list[Entry] = []
    decided: set = set()  # machines whose newest verdict is known (abi: one for every host)
    for entry in newest_first:
        machine = entry.machine if kind == "verify" else ()
        place = (entry.machine, key) if kind == "verify" else key
        if entry.has_verdict:
            wanted = machine not in decided or len(history) < 2
        else:
            wanted = machine not in decided and place not in others
        if not wanted or not _load(found, entry):
            continue
        if not entry.has_verdict:
            others[place] = entry
            continue
        if machine not in decided:
            decided.add(machine)
            verdicts[place] = entry
        if len(history) < 2:
            history.append(entry)
    if history:
        found.history[(kind, computer, key)] = history


def _load(found: Collection, entry: Entry) -> bool:
    """Decode the whole record; one that does not load becomes a skipped file."""
    if entry.record is not None:
        return True
    loaded = load(entry.scanned)
    if isinstance(loaded, str):
        found.skipped.append(Skipped(name=entry.name, reason=loaded))
        found.count -= entry.row is not None
        return False
    entry.record, repaired = loaded
    if repaired:
        found.repaired.append(Skipped(name=entry.name, reason=REPAIRED))
    return True


@functools.lru_cache(maxsize=1024)
def _machine(os_name: str, arch: str, chip: str | None, version: str) -> MachineKey:
    return (clean(os_name), clean(arch), clean(chip), clean(version))


def _add_map(found: Collection, entry: Entry) -> None:
    """Merge a map record cell by cell: a newer cell replaces an older one unless it has no
    prediction and the older one has."""
    section = entry.record.map
    if found.map_error is None or found.map_error[0] < entry.order:
        found.map_error = (entry.order, clean(section.error)) if section.error else None
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


@functools.lru_cache(maxsize=4096)
def _release(version: str) -> bool:
    try:
        canonical_version(version, where="map record")
    except MatrixError:
        return False
    return True
