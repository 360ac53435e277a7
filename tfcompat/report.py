"""The report: every record so far → the compatibility table as Markdown, HTML and JSON.

Which record decides what:

- Import, Devices, Verify, Agrees and Speed-up come from the newest verify record of the row on
  each machine. A machine is a chip (or CPU architecture) and an OS version, so after a macOS
  update the new version gets its own table and the old one stays for comparison. Tables go
  newest first, Macs before other hosts: only a Mac can verify the plugin, elsewhere verify
  checks TensorFlow alone. A record made before the agree and speed-up probes existed leaves
  those two cells empty, with a footnote saying why.
- ABI comes from the newest abi record of the row from any host: an abi record is a prediction
  made from the macOS wheels, the same whichever host made it, so every machine's table shows
  the same ABI column and reads it against its own import.
- "Changed since the previous run" compares the two newest records of a row per kind: abi
  records from any host, verify records per computer (OS, architecture and chip, not the OS
  version: its change is what the section reports). Two Macs with the same chip count as one.
  A speed-up counts as changed when it grows or shrinks by more than ``SPEEDUP_CHANGE`` times; a
  probe missing from the older record (it predates the probe) is not a change.
- ``compatibility.json`` holds the leading table: the Mac with the newest verify record (or
  another host when no Mac has run verify).

Every string read from a record is untrusted (tracebacks, versions, host names): the renderers
escape it for their format.
"""

from __future__ import annotations

import json
import math
import platform
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tabulate import tabulate

from tfcompat.files import write_atomic
from tfcompat.matrix import Matrix, Row
from tfcompat.record import SCHEMA, RecordError, load_record, now

COLUMNS = ("supports", "abi", "import", "devices", "verify", "agrees", "speedup")
HEADERS = (
    "Python",
    "TensorFlow",
    "tensorflow-metal",
    "Supports",
    "ABI",
    "Import",
    "Devices",
    "Verify",
    "Agrees",
    "Speed-up",
)
COLUMN_TITLES = dict(zip(COLUMNS, HEADERS[3:], strict=True))
SYMBOLS = {"ok": "✅", "yes": "✅", "fail": "❌", "no": "❌", "ambiguous": "⚠️", None: "–"}
#: Which probe fills which column. Speed-up's value is the probe's number, not ok/fail.
PROBE_OF_COLUMN = {
    "import": "import",
    "devices": "devices",
    "verify": "fit",
    "agrees": "agree",
    "speedup": "speedup",
}
#: The probes a record made before them lacks: their cells say so instead of staying blank.
NEWER_PROBES = {"agree", "speedup"}
#: A speed-up that grows or shrinks by more than this factor is a change between two runs.
SPEEDUP_CHANGE = 2.0
#: How many lines of an error the Markdown shows from its start and from its end.
EXCERPT_LINES = 6

CLAIM_FAILS = "claim against observation: PyPI's table lists this pair, and it fails here"
CLAIM_WORKS = "claim against observation: PyPI's table does not list this pair, and it verifies here"
ABI_SAID_OK = "ABI against import: predicted to load, and the real import fails"
ABI_SAID_FAIL = "ABI against import: predicted not to load, and the real import works"
SLOWER = "the plugin is slower than the CPU"
NO_GPU = "no GPU listed: CPU only"
PREDATES_PROBES = "not measured: the record predates the agree and speed-up probes"

_STATUSES = {"ok", "fail", "error", "skipped", "not_reached"}  # design.md, decision 2
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass(frozen=True)
class Machine:
    """Where verify records were made: one table each."""

    os: str
    machine: str
    chip: str  # "" when the record names none (every host but a Mac)
    os_version: str

    @property
    def computer(self) -> tuple[str, str, str]:
        """The machine without its OS version: what stays the same across an OS update."""
        return (self.os, self.machine, self.chip)

    @property
    def label(self) -> str:
        if self.os == "Darwin":
            return f"{self.chip or self.machine} · macOS {self.os_version}"
        return f"{self.os} {self.machine} · {self.os_version}"


@dataclass(frozen=True)
class Entry:
    """A record that passed every check, with what the report sorts and groups it by."""

    name: str  # the file, relative to the reports folder
    record: dict
    row: Row
    machine: Machine
    started: datetime

    @property
    def kind(self) -> str:
        return self.record["kind"]


@dataclass(frozen=True)
class Result:
    """What one cell says, before footnotes are numbered."""

    #: "ok", "fail" (or a claim for Supports), a number for Speed-up; None when there is no result
    value: str | float | None
    note: str | None = None  # the failure signature or why there is no result; one line
    detail: str = ""  # the real error text behind the note
    anywhere: bool = False  # true of ABI results: the same whichever host made them
    summary: str = "the error"  # what the detail is, as the HTML page names it


@dataclass(frozen=True)
class Cell:
    value: str | float | None
    marks: tuple[int, ...] = ()  # footnote numbers
    flagged: bool = False  # contradicts the real run


@dataclass
class Footnote:
    number: int
    text: str  # one line: a failure signature or a note
    detail: str  # the full error text, "" for a plain note
    #: Where it applies: machine label ("" for host-independent ABI results) → row labels.
    where: dict[str, list[str]] = field(default_factory=dict)
    summary: str = "the error"  # what the detail is

    def places(self, *, most: int | None = None) -> str:
        """Where it applies, one line; at most ``most`` rows named per machine."""
        parts = []
        for machine, rows in self.where.items():
            named = ", ".join(rows[:most]) + (
                f" and {len(rows) - most} more" if most and len(rows) > most else ""
            )
            parts.append(f"{machine}: {named}" if machine else named)
        return "; ".join(parts)


@dataclass(frozen=True)
class TableRow:
    row: Row
    cells: dict[str, Cell]

    @property
    def marks(self) -> list[int]:
        return sorted({mark for cell in self.cells.values() for mark in cell.marks})


@dataclass(frozen=True)
class Table:
    machine: Machine | None  # None: no verify record from anywhere yet
    newest: datetime | None  # the newest verify record in it
    rows: list[TableRow]

    @property
    def title(self) -> str:
        return self.machine.label if self.machine else "No verify records yet"


@dataclass(frozen=True)
class Flag:
    """A row where the claim or the ABI prediction disagrees with what really happened."""

    machine: str  # the label of the machine it happened on
    row: Row
    text: str


@dataclass(frozen=True)
class Change:
    """A row whose outcome differs between its two newest records of one kind."""

    row: Row
    where: str  # "ABI prediction" or the machine
    outcome: list[str]  # "Import ✅ → ❌ (signature)"
    host: list[str]  # "macOS 15.6.1 → 26.1"
    packages: list[str]  # "tensorflow 2.19.0 → 2.19.1", "+ keras 3.1.0"
    dates: tuple[datetime, datetime]


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Report:
    generated: str
    record_count: int
    tables: list[Table]  # newest machine first; never empty
    footnotes: list[Footnote]
    flags: list[Flag]
    changes: list[Change]
    skipped: list[Skipped]


def write_reports(
    matrix: Matrix, folder: Path, *, generated: str | None = None, host_os: str | None = None
) -> list[Path]:
    """Read every record under ``folder`` and write the Markdown, HTML and JSON tables at its top.

    ``generated`` (ISO 8601, default now) is the time the outputs name; ``host_os`` (default this
    OS) decides how rows without a record are explained when no machine has run verify yet.
    Returns the paths of the three files written.
    """
    from tfcompat.report_html import render_html  # here: report_html imports this module's model

    folder.mkdir(parents=True, exist_ok=True)
    entries, skipped = read_records(folder, matrix)
    report = build_report(
        matrix,
        entries,
        skipped,
        generated=generated or now(),
        host_os=host_os or platform.system(),
    )
    outputs = {
        "compatibility.md": render_markdown(report),
        "compatibility.html": render_html(report),
        "compatibility.json": render_json(report),
    }
    paths = []
    for name, text in outputs.items():
        paths.append(folder / name)
        write_atomic(folder / name, text)
    return paths


# Reading


def read_records(folder: Path, matrix: Matrix) -> tuple[list[Entry], list[Skipped]]:
    """Every ``*.json`` under ``folder`` as an entry, or as skipped with the reason why."""
    rows = {(row.python, row.tf, row.metal): row for row in matrix.rows}
    own_output = folder / "compatibility.json"
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for path in sorted(folder.rglob("*.json")):
        # Hidden files are records being written (record.write_record's temporary files).
        if path == own_output or path.name.startswith("."):
            continue
        name = path.relative_to(folder).as_posix()
        try:
            record = load_record(path)
        except RecordError as exc:
            skipped.append(Skipped(name, _cut(str(exc).removeprefix(f"{path.name}: "))))
            continue
        problem = _problem(record)
        key = (record["row"]["python"], record["row"]["tf"], record["row"]["metal"])
        if problem is None and key not in rows:
            problem = "row not in expected.toml"
        if problem:
            skipped.append(Skipped(name, problem))
            continue
        host = record["host"]
        machine = Machine(*(_text(host.get(key)) for key in ("os", "machine", "chip", "os_version")))
        entries.append(Entry(name, record, rows[key], machine, _timestamp(record["started"])))
    return entries, skipped


def _problem(record: dict) -> str | None:
    """What makes a loadable record unusable for the report (the parts it reads), or None."""
    host = record["host"]
    if not isinstance(host, dict) or not all(
        isinstance(host.get(k), str) for k in ("os", "os_version", "machine")
    ):
        return "'host' lacks os/os_version/machine"
    if not isinstance(host.get("chip"), str | None):
        return "'host.chip' is not a string"
    try:
        _timestamp(record["started"])
    except (TypeError, ValueError, OverflowError):  # OverflowError: year 1 moved to UTC
        return f"'started' is not an ISO 8601 time: {str(record['started'])[:40]!r}"
    if record["kind"] == "abi":
        abi = record.get("abi")
        if not isinstance(abi, dict) or not all(
            isinstance(abi.get(key, []), list) for key in ("unresolved", "wheels")
        ):
            return "'abi' section missing or malformed"
        return None
    provision, probes = record.get("provision"), record.get("probes")
    if (
        not isinstance(provision, dict)
        or provision.get("status") not in {"ok", "error"}
        or not isinstance(provision.get("packages", []), list)
    ):
        return "'provision' section missing or malformed"
    if not isinstance(probes, dict):
        return "'probes' section missing or malformed"
    for name, probe in probes.items():
        if not isinstance(probe, dict) or probe.get("status") not in _STATUSES:
            return f"probe {str(name)[:20]!r} malformed"
    return None


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# The model


def build_report(
    matrix: Matrix, entries: list[Entry], skipped: list[Skipped], *, generated: str, host_os: str
) -> Report:
    """The tables, footnotes, flags and changes the three renderers share."""
    newest_first = sorted(entries, key=lambda entry: (entry.started, entry.name), reverse=True)
    abi_by_row: dict[int, Entry] = {}
    verify_by_machine: dict[Machine, dict[int, Entry]] = {}
    for entry in newest_first:
        if entry.kind == "abi":
            abi_by_row.setdefault(entry.row.number, entry)
        else:
            verify_by_machine.setdefault(entry.machine, {}).setdefault(entry.row.number, entry)

    footnotes: dict[str, Footnote] = {}
    flags: list[Flag] = []
    # verify_by_machine was filled newest record first, and sorted() is stable: Macs lead, newest
    # first, since only a Mac can verify the plugin; other hosts verify TensorFlow alone.
    machines = sorted(verify_by_machine, key=lambda machine: machine.os != "Darwin")
    shared = {"abi_by_row": abi_by_row, "footnotes": footnotes, "flags": flags}
    tables = [
        _table(matrix, machine, verify_by_row=verify_by_machine[machine], os_name=machine.os, **shared)
        for machine in machines
    ] or [_table(matrix, None, verify_by_row={}, os_name=host_os, **shared)]
    return Report(
        generated=generated,
        record_count=len(entries),
        tables=tables,
        footnotes=list(footnotes.values()),
        flags=flags,
        changes=_changes(newest_first),
        skipped=skipped,
    )


def _table(
    matrix: Matrix,
    machine: Machine | None,
    *,
    verify_by_row: dict[int, Entry],
    abi_by_row: dict[int, Entry],
    os_name: str,
    footnotes: dict[str, Footnote],
    flags: list[Flag],
) -> Table:
    """One machine's table; adds the footnotes and flags it uses to ``footnotes`` and ``flags``.

    ``os_name`` decides how a row without a verify record is explained.
    """
    rows = []
    for row in matrix.rows:
        verify = verify_by_row.get(row.number)
        abi = abi_by_row.get(row.number)
        results = {
            "supports": Result(row.supports),
            "abi": abi_result(abi.record) if abi else _abi_missing(row),
            **(verify_results(verify.record) if verify else _verify_missing(row, os_name)),
        }
        flagged = defaultdict(list)
        for column, text in _disagreements(row, verify, abi):
            flags.append(Flag(machine.label, row, text))  # a flag needs a verify record: a machine
            flagged[column].append(Result(None, text))
        machine_label = machine.label if machine else ""
        cells = {
            column: _cell(row, machine_label, [results[column], *flagged[column]], footnotes)
            for column in COLUMNS
        }
        rows.append(TableRow(row, cells))
    newest = max((entry.started for entry in verify_by_row.values()), default=None)
    return Table(machine, newest, rows)


def _cell(row: Row, machine_label: str, results: list[Result], footnotes: dict[str, Footnote]) -> Cell:
    """The first result's value, with every result's note numbered: one footnote per distinct text."""
    marks = []
    for result in results:
        if result.note is None:
            continue
        footnote = footnotes.get(result.note)
        if footnote is None:
            footnote = footnotes[result.note] = Footnote(
                len(footnotes) + 1, result.note, result.detail, summary=result.summary
            )
        rows = footnote.where.setdefault("" if result.anywhere else machine_label, [])
        if row_label(row) not in rows:
            rows.append(row_label(row))
        marks.append(footnote.number)
    return Cell(results[0].value, tuple(marks), flagged=len(results) > 1)


def verify_results(record: dict) -> dict[str, Result]:
    """The Import, Devices, Verify, Agrees and Speed-up results of a verify record."""
    provision = record["provision"]
    if provision["status"] == "error":
        error = _text(provision.get("error"))
        reason = f"provisioning failed: {_text(provision.get('signature')) or first_line(error)}"
        return {column: Result(None) for column in PROBE_OF_COLUMN} | {"import": Result(None, reason, error)}
    probes = record["probes"]
    # An older record lacks the newer probes; had an earlier probe failed, they would not run anyway.
    predates = all(probe["status"] == "ok" for probe in probes.values())
    results = {}
    for column, probe_name in PROBE_OF_COLUMN.items():
        probe = probes.get(probe_name)
        if probe is None:
            note = PREDATES_PROBES if probe_name in NEWER_PROBES and predates else None
            results[column] = Result(None, note)
        elif probe["status"] == "ok":
            results[column] = _speedup_result(probe.get("result")) if column == "speedup" else Result("ok")
        elif probe["status"] == "fail":
            comparisons = _comparisons(probe.get("result")) if column == "agrees" else ""
            # A timeout has no error text; the end of the probe's stderr is the next best thing.
            detail = comparisons or _text(probe.get("error")) or _text(probe.get("stderr_tail"))
            results[column] = Result(
                "fail",
                _text(probe.get("signature")) or "failed",
                detail,
                summary="the comparisons" if comparisons else "the error",
            )
        else:
            results[column] = Result(None)
    return results


def _speedup_result(result: object) -> Result:
    """A passed speed-up probe's number; without one (no GPU listed), the CPU's rate says why."""
    result = result if isinstance(result, dict) else {}
    speedup = number(result.get("speedup"))
    if speedup is not None:
        return Result(speedup, SLOWER if speedup < 1 else None)
    if result.get("gpu") is None:
        cpu = result.get("cpu")
        rate = number(cpu.get("steps_per_second")) if isinstance(cpu, dict) else None
        return Result(None, NO_GPU + (f", {figure(rate)} steps/s" if rate is not None else ""))
    return Result(None, "no speed-up figure in the record")


def _comparisons(result: object) -> str:
    """A disagreeing agree probe's comparisons, one op a line: its largest relative error."""
    if not isinstance(result, dict) or not isinstance(result.get("comparisons"), list):
        return ""
    lines = [
        f"reference {_text(result.get('reference'))}, candidate {_text(result.get('candidate'))} "
        f"({_text(result.get('candidate_dtype'))}): largest relative error per op"
    ]
    for comparison in result["comparisons"]:
        if not isinstance(comparison, dict):
            continue
        error, tolerance = number(comparison.get("max_relative_error")), number(comparison.get("tolerance"))
        lines.append(
            f"{'ok  ' if comparison.get('agrees') is True else 'FAIL'} {_text(comparison.get('name')):<16} "
            + (f"{error:.1e}" if error is not None else "non-finite")
            + (f" (tolerance {tolerance:.0e})" if tolerance is not None else "")
        )
    return "\n".join(lines)


def abi_result(record: dict) -> Result:
    """The ABI result of an abi record."""
    abi = record["abi"]
    if record["verdict"] == "error":
        error = _text(abi.get("error"))
        return Result(None, f"no ABI prediction: {first_line(error)}", error, anywhere=True)
    if record["verdict"] == "ok":
        return Result("ok", anywhere=True)
    first = _text(abi.get("first")) or "unresolved symbols"
    unresolved = [_text(line) for line in abi.get("unresolved", [])]
    count = abi.get("unresolved_count")
    more = count - len(unresolved) if isinstance(count, int) and count > len(unresolved) else 0
    detail = "\n".join([first, *unresolved] + ([f"... and {more} more"] if more else []))
    return Result("fail", f"ABI predicts: {first_line(first)}", detail, anywhere=True)


def _verify_missing(row: Row, os_name: str) -> dict[str, Result]:
    if row.has_plugin and os_name != "Darwin":
        reason = f"not run here: tensorflow-metal has no wheels for {os_name}"
    else:
        reason = "not run yet"
    return {column: Result(None) for column in PROBE_OF_COLUMN} | {"import": Result(None, reason)}


def _abi_missing(row: Row) -> Result:
    # A row without the plugin has nothing to predict; the legend says so.
    return Result(None, "ABI not checked yet", anywhere=True) if row.has_plugin else Result(None)


def _disagreements(row: Row, verify: Entry | None, abi: Entry | None) -> list[tuple[str, str]]:
    """(column, flag text) for each way the claim or the prediction contradicts the real run."""
    if verify is None or not row.has_plugin:
        return []
    flags = []
    verdict = verify.record["verdict"]
    if row.supports == "yes" and verdict == "fail":
        flags.append(("supports", CLAIM_FAILS))
    if row.supports == "no" and verdict == "ok":
        flags.append(("supports", CLAIM_WORKS))
    imported = verify_results(verify.record)["import"].value
    predicted = abi_result(abi.record).value if abi else None
    if predicted == "ok" and imported == "fail":
        flags.append(("abi", ABI_SAID_OK))
    if predicted == "fail" and imported == "ok":
        flags.append(("abi", ABI_SAID_FAIL))
    return flags


def _changes(newest_first: list[Entry]) -> list[Change]:
    """Rows whose two newest records of a kind (per computer for verify) differ, in matrix order."""
    groups: dict[tuple, list[Entry]] = defaultdict(list)
    for entry in newest_first:
        computer = () if entry.kind == "abi" else entry.machine.computer
        groups[(entry.row.number, entry.kind, computer)].append(entry)
    changes = []
    for key in sorted(groups):
        history = groups[key]
        if len(history) < 2:
            continue
        newest, previous = history[0], history[1]
        outcome = _outcome_changes(_outcome(previous), _outcome(newest))
        if not outcome:
            continue
        changes.append(
            Change(
                row=newest.row,
                where="ABI prediction" if newest.kind == "abi" else newest.machine.label,
                outcome=outcome,
                host=_host_changes(previous.record, newest.record) if newest.kind == "verify" else [],
                packages=_package_changes(_packages(previous.record), _packages(newest.record)),
                dates=(previous.started, newest.started),
            )
        )
    return changes


def _outcome(entry: Entry) -> dict[str, Result]:
    if entry.kind == "abi":
        return {"abi": abi_result(entry.record)}
    return verify_results(entry.record)


def _outcome_changes(before: dict[str, Result], after: dict[str, Result]) -> list[str]:
    lines = []
    for column, now_result in after.items():
        then = before[column]
        if _same_outcome(then, now_result):
            continue
        lines.append(f"{COLUMN_TITLES[column]} {_result_text(then)} → {_result_text(now_result)}")
    return lines


def _same_outcome(then: Result, now_result: Result) -> bool:
    """Whether two runs' results count as the same: speed-ups within a factor, no-GPU rates alike."""
    if PREDATES_PROBES in (then.note, now_result.note):
        return True  # the probe is new, not the pair's behaviour
    if isinstance(then.value, float) and isinstance(now_result.value, float):
        low, high = sorted((then.value, now_result.value))
        return high <= SPEEDUP_CHANGE * low
    return (then.value, _without_rate(then.note)) == (now_result.value, _without_rate(now_result.note))


def _without_rate(note: str | None) -> str | None:
    """A no-GPU note without the CPU's rate, which differs from run to run."""
    return NO_GPU if note and note.startswith(NO_GPU) else note


def _result_text(result: Result) -> str:
    return symbol(result.value) + (f" ({result.note})" if result.note else "")


def _host_changes(before: dict, after: dict) -> list[str]:
    """What changed on the computer and in the suite's tools between two verify records.

    Both records come from one computer (same OS, architecture and chip): what can differ is the
    OS version, the suite's Python and the tools.
    """
    os_version = "macOS" if after["host"]["os"] == "Darwin" else f"{after['host']['os']} version"
    lines = []
    for key, name in (("os_version", os_version), ("python", "Python")):
        old, new = before["host"].get(key), after["host"].get(key)
        if old != new:
            lines.append(f"{name} {_text(old) or '?'} → {_text(new) or '?'}")
    old_tools, new_tools = before.get("tools") or {}, after.get("tools") or {}
    if isinstance(old_tools, dict) and isinstance(new_tools, dict):
        for tool in sorted(set(old_tools) | set(new_tools)):
            if old_tools.get(tool) != new_tools.get(tool):
                lines.append(
                    f"{tool} {_text(old_tools.get(tool)) or '?'} → {_text(new_tools.get(tool)) or '?'}"
                )
    return lines


def _packages(record: dict) -> dict[str, str]:
    """name → version of what a record installed (verify) or read (abi); empty when unknown."""
    if record["kind"] == "abi":
        wheels = record["abi"].get("wheels") or []
        return {
            _text(wheel.get("name")): f"{_text(wheel.get('version'))} ({_text(wheel.get('sha256'))[:12]})"
            for wheel in wheels
            if isinstance(wheel, dict)
        }
    packages = record["provision"].get("packages") or []
    pins = (_text(item).partition("==") for item in packages)
    return {name: version for name, _, version in pins}


def _package_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    if not before or not after:
        return []  # a failed provisioning installed nothing: nothing to compare
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None:
            lines.append(f"+ {name} {new}")
        elif new is None:
            lines.append(f"- {name} {old}")
        else:
            lines.append(f"{name} {old} → {new}")
    return lines


# Shared by the renderers


def row_label(row: Row) -> str:
    """``tf 2.19.0 + metal 1.2.0``: unique, as the matrix allows one row per pair."""
    return f"tf {row.tf} + metal {row.metal}" if row.has_plugin else f"tf {row.tf} alone"


def symbol(value: str | float | None) -> str:
    """A cell's text without its marks: ✅/❌/⚠️/–, or a speed-up (``6.3×``, ``⚠️ 0.6×`` below 1)."""
    if isinstance(value, float):
        return ("⚠️ " if value < 1 else "") + f"{figure(value)}×"
    return SYMBOLS.get(value, "–")


def figure(value: float) -> str:
    """A measured ratio or rate, as precise as a noisy measurement is: ``6.3``, ``12.4``, ``0.62``."""
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def number(value: object) -> float | None:
    """A record's value as a finite non-negative number, or None when it is anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def show_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def show_generated(generated: str) -> str:
    try:
        return show_time(_timestamp(generated))
    except ValueError:
        return generated


def _cut(text: str, limit: int = 200) -> str:
    """A reason as a list shows it: one line, cut, since a foreign file chose its content."""
    text = " ".join(_text(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(value: object) -> str:
    """A record's value as plain text: terminal colour codes and control characters removed."""
    if value is None:
        return ""
    return _CONTROL.sub("", value if isinstance(value, str) else str(value))


LEGEND_PROBES = (
    "Agrees: the GPU computes the same numbers as the CPU within float32 tolerances (with no GPU "
    "listed: the CPU with oneDNN on against off). Speed-up: training steps per second on the GPU "
    "over the CPU, same model and batch; ⚠️ when the GPU is slower."
)


# Markdown


def render_markdown(report: Report) -> str:
    """The GitHub-ready page: header, one table per machine, legend, sections, footnotes."""
    parts = [_markdown_header(report)]
    if report.record_count == 0:
        parts.append(
            "No records yet: run `nox -s abi` (any OS) or `nox -s verify` (macOS), then `nox -s report`."
        )
    for table in report.tables:
        parts.append(_markdown_table(table))
    parts.append(_markdown_legend())
    if report.flags:
        parts.append(_markdown_flags(report.flags))
    if report.changes:
        parts.append(_markdown_changes(report.changes))
    if report.footnotes:
        parts.append("## Footnotes\n\n" + "\n\n".join(_markdown_footnote(note) for note in report.footnotes))
    if report.skipped:
        lines = [f"- {md(skipped.name)}: {md(skipped.reason)}" for skipped in report.skipped]
        parts.append("## Records skipped\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _markdown_header(report: Report) -> str:
    machines = [table.machine.label for table in report.tables if table.machine]
    on = (
        f" on {md('; '.join(machines))}" + (" (newest first)" if len(machines) > 1 else "")
        if machines
        else ""
    )
    return (
        "# tensorflow-metal compatibility\n\n"
        f"Generated {md(show_generated(report.generated))} from {report.record_count} records{on}."
    )


def _markdown_table(table: Table) -> str:
    when = f" (newest record {show_time(table.newest)})" if table.newest else ""
    rows = [
        [md(row.row.python), md(row.row.tf), md(row.row.metal)]
        + [symbol(row.cells[column].value) + superscript(row.cells[column].marks) for column in COLUMNS]
        for row in table.rows
    ]
    # disable_numparse: "2.10" is a version, not the number 2.1.
    body = tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True)
    return f"## {md(table.title)}{when}\n\n{body}"


def _markdown_legend() -> str:
    return (
        "✅ works (Supports: PyPI lists the pair) · ❌ fails (Supports: PyPI does not list it) · "
        "⚠️ PyPI's table is ambiguous · – no result; a number points to a footnote.\n\n"
        "Supports is tensorflow-metal's own table on PyPI. ABI is the prediction from the macOS wheels "
        "(the newest, from any host). Import, Devices, Verify (a short training run), Agrees and Speed-up "
        "are the probes run on the machine the table names. " + LEGEND_PROBES + " A row with metal `none` "
        "is TensorFlow alone: no claim, nothing to predict."
    )


def _markdown_flags(flags: list[Flag]) -> str:
    lines = [f"- {md(row_label(flag.row))} on {md(flag.machine)}: {md(flag.text)}" for flag in flags]
    return "## Claim against observation\n\n" + "\n".join(lines)


def _markdown_changes(changes: list[Change]) -> str:
    items = []
    for change in changes:
        dates = f"{show_time(change.dates[0])} → {show_time(change.dates[1])}"
        lines = [
            f"- {md(row_label(change.row))}, {md(change.where)} ({dates}): {md('; '.join(change.outcome))}"
        ]
        if change.host:
            lines.append(f"  - host: {md('; '.join(change.host))}")
        if change.packages:
            lines.append(f"  - packages: {md('; '.join(change.packages))}")
        items.append("\n".join(lines))
    return "## Changed since the previous run\n\n" + "\n".join(items)


def _markdown_footnote(footnote: Footnote) -> str:
    text = f"{superscript((footnote.number,))} **{md(footnote.text)}** — {md(footnote.places(most=5))}"
    if footnote.detail:
        text += "\n\n" + fenced(excerpt(footnote.detail))
    return text


def excerpt(detail: str) -> str:
    """The first and last lines of an error: where it starts, and the exception it ends in."""
    lines = detail.rstrip().splitlines()
    if len(lines) <= 2 * EXCERPT_LINES + 1:
        return "\n".join(lines)
    hidden = len(lines) - 2 * EXCERPT_LINES
    return "\n".join(
        lines[:EXCERPT_LINES]
        + [f"... {hidden} lines, all in compatibility.html ..."]
        + lines[-EXCERPT_LINES:]
    )


def fenced(text: str) -> str:
    """A fenced code block that ``text`` cannot close: the fence outruns its longest backtick run."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def md(text: str) -> str:
    """Untrusted text as one line of Markdown that renders as itself: no markup, no HTML, no cell break."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(_text(text).split()))


def superscript(marks: tuple[int, ...] | list[int]) -> str:
    return ",".join(str(mark).translate(_SUPERSCRIPT) for mark in marks)


# JSON


def render_json(report: Report) -> str:
    """The leading table, machine-readable; every matrix row, in expected.toml order."""
    table = report.tables[0]
    rows = [
        {
            "python": row.row.python,
            "tf": row.row.tf,
            "metal": row.row.metal,
            "supports": row.row.supports,
            **{column: row.cells[column].value for column in ("abi", "import", "devices", "verify")},
            "agrees": row.cells["agrees"].value,
            "speedup": _json_speedup(row.cells["speedup"].value),
            "footnotes": row.marks,
        }
        for row in table.rows
    ]
    return json.dumps(
        {"schema": SCHEMA, "generated": report.generated, "rows": rows}, indent=1, ensure_ascii=False
    )


def _json_speedup(value: str | float | None) -> float | None:
    # A failed speed-up probe shows ❌ in the table; the JSON key holds a number or null.
    return value if isinstance(value, float) else None
