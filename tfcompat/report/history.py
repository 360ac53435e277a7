"""What contradicts what, and what changed between a row's two newest runs with a verdict.

Changes compare per kind: abi records from any host, verify records per computer (OS,
architecture and chip, not the OS version: its change is what the section reports). Only
records with a verdict take part, so a run that could not decide is never a change. A speed-up
counts as changed when it grows or shrinks by more than ``SPEEDUP_CHANGE`` times; a probe
missing from the older record (it predates the probe) is not a change.
"""

from __future__ import annotations

from tfcompat.core.record import Record
from tfcompat.report.cells import abi_detail
from tfcompat.report.collect import Collection, Entry
from tfcompat.report.model import COLUMNS, Change, Flag
from tfcompat.report.rows import NO_GPU, PREDATES_PROBES, SYMBOLS, Result, verify_results
from tfcompat.report.text import clean, figure, first_line

SPEEDUP_CHANGE = 2.0
CLAIM_FAILS = "claim against observation: PyPI's table lists this pair, and it fails here"
CLAIM_WORKS = "claim against observation: PyPI's table does not list this pair, and it verifies here"
ABI_SAID_OK = "ABI against import: predicted to load, and the real import fails"
ABI_SAID_FAIL = "ABI against import: predicted not to load, and the real import works"


def abi_result(record: Record) -> Result:
    """The ABI column of an abi record with a verdict."""
    abi = record.abi
    if abi.verdict == "ok":
        return Result("ok")
    first = clean(abi.first) or "unresolved symbols"
    return Result("fail", f"predicted: {first_line(first)}", abi_detail(abi))


def disagreements(verify: Entry | None, abi: Entry | None) -> list[tuple[str, str]]:
    """(column, flag text) for each way the claim or the prediction contradicts the real run."""
    if verify is None or not verify.row.has_plugin or verify.record.verdict not in ("ok", "fail"):
        return []
    flags = []
    verdict, supports = verify.record.verdict, verify.row.supports
    if supports == "yes" and verdict == "fail":
        flags.append(("supports", CLAIM_FAILS))
    if supports == "no" and verdict == "ok":
        flags.append(("supports", CLAIM_WORKS))
    imported = verify_results(verify.record)["import"].value
    predicted = abi_result(abi.record).value if abi else None
    if predicted == "ok" and imported == "fail":
        flags.append(("abi", ABI_SAID_OK))
    if predicted == "fail" and imported == "ok":
        flags.append(("abi", ABI_SAID_FAIL))
    return flags


def flags_of(collection: Collection, machines: list, label_of) -> list[Flag]:
    """Every disagreement, by machine (in the report's order), then in matrix order."""
    flags = []
    held = sorted(
        collection.verify.items(), key=lambda item: (machines.index(item[0][0]), item[1].row.number)
    )
    for (machine, key), entry in held:
        for _, text in disagreements(entry, collection.abi.get(key)):
            flags.append(Flag(machine=label_of(machine), row=row_label(entry.row), text=text))
    return flags


def row_label(row) -> str:
    pair = f"tf {row.tf} + metal {row.metal}" if row.has_plugin else f"tf {row.tf} alone"
    return f"{pair} on Python {row.python}"


def changes_of(collection: Collection, label_of) -> list[Change]:
    """Rows whose two newest records with a verdict (per kind, per computer for verify) differ."""
    changes = []
    for (kind, _computer, _key), history in sorted(collection.history.items(), key=_matrix_order):
        if len(history) < 2:
            continue
        newest, previous = history
        outcome = _outcome_changes(_outcome(previous), _outcome(newest))
        if not outcome:
            continue
        changes.append(
            Change(
                row=row_label(newest.row),
                where="ABI prediction" if kind == "abi" else label_of(newest.machine),
                outcome=outcome,
                host=_host_changes(previous.record, newest.record) if kind == "verify" else [],
                packages=_package_changes(_packages(previous.record), _packages(newest.record)),
                dates=(previous.record.started, newest.record.started),
            )
        )
    return changes


def _matrix_order(item) -> tuple:
    (kind, computer, _key), history = item
    return (history[0].row.number, kind, computer)


def _outcome(entry: Entry) -> dict[str, Result]:
    return {"abi": abi_result(entry.record)} if entry.record.kind == "abi" else verify_results(entry.record)


def _outcome_changes(before: dict[str, Result], after: dict[str, Result]) -> list[str]:
    lines = []
    for column, now in after.items():
        then = before[column]
        if not _same_outcome(then, now):
            lines.append(f"{COLUMNS[column]} {_result_text(then)} → {_result_text(now)}")
    return lines


def _same_outcome(then: Result, now: Result) -> bool:
    """Whether two runs' results count as the same: speed-ups within a factor, no-GPU rates alike."""
    if PREDATES_PROBES in (then.note, now.note):
        return True  # the probe is new, not the pair's behaviour
    if isinstance(then.value, float) and isinstance(now.value, float):
        low, high = sorted((then.value, now.value))
        return high <= SPEEDUP_CHANGE * low
    return (then.value, _without_rate(then.note)) == (now.value, _without_rate(now.note))


def _without_rate(note: str | None) -> str | None:
    """A no-GPU note without the CPU's rate, which differs from run to run."""
    return NO_GPU if note and note.startswith(NO_GPU) else note


def _result_text(result: Result) -> str:
    if isinstance(result.value, float):
        text = ("⚠️ " if result.value < 1 else "") + f"{figure(result.value)}×"
    else:
        text = SYMBOLS.get(result.value, "–")
    return text + (f" ({result.note})" if result.note else "")


def _host_changes(before: Record, after: Record) -> list[str]:
    """What changed on the computer and in the suite's tools between two verify records of it."""
    os_name = "macOS" if after.host.os == "Darwin" else f"{clean(after.host.os)} version"
    lines = []
    pairs = [
        (os_name, before.host.os_version, after.host.os_version),
        ("Python", before.host.python, after.host.python),
    ]
    pairs += [
        (tool, getattr(before.tools, tool), getattr(after.tools, tool)) for tool in ("nox", "tfcompat", "uv")
    ]
    for name, old, new in pairs:
        if old != new:
            lines.append(f"{name} {clean(old) or '?'} → {clean(new) or '?'}")
    return lines


def _packages(record: Record) -> dict[str, str]:
    """name → version of what a record installed (verify) or read (abi); empty when unknown."""
    if record.kind == "abi":
        return {
            clean(wheel.name): f"{clean(wheel.version)} ({clean(wheel.sha256)[:12]})"
            for wheel in record.abi.wheels
        }
    pins = (clean(item).partition("==") for item in record.provision.packages)
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
