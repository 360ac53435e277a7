"""A machine's row list: for each matrix row, what PyPI claims, what abi predicts and what each
probe of the newest verify run with a verdict showed there.

A run without a verdict (the network, the disk, a damaged cache) never replaces the verdict
before it: the cell keeps the older result and a footnote says that the newest run had none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tfcompat.core.record import Probe, Record
from tfcompat.report.collect import Entry
from tfcompat.report.evidence import SLOWER
from tfcompat.report.model import Value
from tfcompat.report.notes import Notes
from tfcompat.report.text import clean, cut, figure, first_line, show_time

#: Which probe fills which column.
PROBE_OF_COLUMN = {
    "import": "import",
    "devices": "devices",
    "verify": "fit",
    "agrees": "agree",
    "speedup": "speedup",
}
#: The probes a record made before them lacks: their cells say so instead of staying blank.
NEWER_PROBES = {"agree", "speedup"}
PREDATES_PROBES = "not measured: the record predates the agree and speed-up probes"
NO_GPU = "no GPU listed: CPU only"
#: The design card's marks (``evidence.MARKS``) for a column's result; "–": no result.
SYMBOLS = {"ok": "✅", "yes": "✅", "fail": "❌", "no": "❌", "ambiguous": "⚠️", None: "–"}
STATES = {"ok": "ok", "yes": "ok", "fail": "fail", "no": "fail", "ambiguous": "warn", None: "none"}


@dataclass(frozen=True)
class Result:
    """What one cell says, before its note is numbered."""

    value: str | float | None  # "ok", "fail", a claim, a speed-up; None: no result
    note: str | None = None  # one line: the failure signature, or why there is no result
    detail: str = ""  # the real error text behind the note


def verify_results(record: Record) -> dict[str, Result]:
    """The Import, Devices, Verify, Agrees and Speed-up results of a verify record with a verdict."""
    provision = record.provision
    if provision.status != "ok":
        error = clean(provision.error)
        words = (
            "not installable from wheels" if provision.status == "not_installable" else "provisioning failed"
        )
        reason = f"{words}: {clean(provision.signature) or first_line(error)}"
        return {column: Result(None) for column in PROBE_OF_COLUMN} | {"import": Result(None, reason, error)}
    probes = record.probes
    # An older record lacks the newer probes; had an earlier probe failed, they would not run anyway.
    predates = all(probe.status == "ok" for probe in probes.values())
    results = {}
    for column, name in PROBE_OF_COLUMN.items():
        probe = probes.get(name)
        if probe is None:
            results[column] = Result(None, PREDATES_PROBES if name in NEWER_PROBES and predates else None)
        elif probe.status == "ok":
            results[column] = _speedup(probe.result) if column == "speedup" else Result("ok")
        elif probe.status == "fail":
            comparisons = _comparisons(probe.result) if column == "agrees" else ""
            # A timeout has no error text; the end of the probe's stderr is the next best thing.
            detail = comparisons or clean(probe.error) or clean(probe.stderr_tail)
            results[column] = Result("fail", clean(probe.signature) or "failed", detail)
        elif probe.status in ("skipped", "error"):
            words = "not measured here" if probe.status == "skipped" else "no verdict"
            reason = (
                clean(probe.reason)
                or clean(probe.signature)
                or first_line(clean(probe.error))
                or probe.status
            )
            results[column] = Result(None, f"{words}: {reason}", clean(probe.error))
        else:
            results[column] = Result(None)
    return results


def _speedup(result: dict | None) -> Result:
    """A passed speed-up probe's number; without one (no GPU listed), the CPU's rate says why."""
    result = result if isinstance(result, dict) else {}
    speedup = _number(result.get("speedup"))
    if speedup is not None:
        return Result(speedup, _much_slower(result) or (f"the plugin is {SLOWER}" if speedup < 1 else None))
    if result.get("gpu") is None:
        cpu = result.get("cpu")
        rate = _number(cpu.get("steps_per_second")) if isinstance(cpu, dict) else None
        return Result(None, NO_GPU + (f", {figure(rate)} steps/s" if rate is not None else ""))
    return Result(None, "no speed-up figure in the record")


def _much_slower(result: dict) -> str | None:
    """Both step times, when the speed-up probe flagged the GPU as more than N times slower."""
    cpu, gpu = _number(result.get("cpu_step_seconds")), _number(result.get("gpu_step_seconds"))
    factor = _number(result.get("much_slower_factor"))
    if result.get("much_slower") is not True or None in (cpu, gpu, factor):
        return None
    return (
        f"the plugin is more than {factor:g}× slower than the CPU: {gpu:.3g} s a step on the GPU "
        f"against {cpu:.3g} s on the CPU"
    )


def _comparisons(result: dict | None) -> str:
    """A disagreeing agree probe's comparisons, one op a line: its largest relative error."""
    if not isinstance(result, dict) or not isinstance(result.get("comparisons"), list):
        return ""
    lines = [
        f"reference {clean(result.get('reference'))}, candidate {clean(result.get('candidate'))} "
        f"({clean(result.get('candidate_dtype'))}): largest relative error per op"
    ]
    for comparison in result["comparisons"]:
        if not isinstance(comparison, dict):
            continue
        error, tolerance = _number(comparison.get("max_relative_error")), _number(comparison.get("tolerance"))
        lines.append(
            f"{'ok  ' if comparison.get('agrees') is True else 'FAIL'} {clean(comparison.get('name')):<16} "
            + (f"{error:.1e}" if error is not None else "non-finite")
            + (f" (tolerance {tolerance:.0e})" if tolerance is not None else "")
        )
    # The named checks of known failures that failed: check, device, mode, finding, sources.
    for check in result.get("checks") if isinstance(result.get("checks"), list) else []:
        if isinstance(check, dict) and check.get("status") == "fail":
            sources = check.get("sources") if isinstance(check.get("sources"), list) else []
            lines.append(
                f"FAIL {cut(clean(check.get('title')))} on {cut(clean(check.get('device')))} "
                f"({cut(clean(check.get('mode')))}): {cut(clean(check.get('finding')))}"
                + (f" [{cut(', '.join(clean(source) for source in sources))}]" if sources else "")
            )
    return "\n".join(lines)


def _number(value: object) -> float | None:
    """A record's value as a finite non-negative number, or None when it is anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def no_verdict_note(entry: Entry) -> tuple[str, str]:
    """(note, detail) for a run without a verdict that is newer than the verdict shown."""
    record = entry.record
    if record.kind == "abi":
        reason = clean(record.abi.error) if record.abi else ""
    elif record.provision is not None and record.provision.status != "ok":
        reason = clean(record.provision.error)
    else:
        probe = next((p for p in (record.probes or {}).values() if p.status == "error"), None)
        reason = _probe_reason(probe) if probe else ""
    when = show_time(record.started)
    return f"no verdict in the newest run ({when}): {first_line(reason) or 'see the record'}", reason


def _probe_reason(probe: Probe) -> str:
    return clean(probe.error) or clean(probe.signature)


def value(result: Result, notes: Notes, *, machine: str, place: str, extra: tuple | list = ()) -> Value:
    """The cell of ``result``, with every note (its own and ``extra``'s) numbered."""
    footnotes = [
        notes.add(item.note, item.detail, machine=machine, place=place)
        for item in (result, *extra)
        if item.note is not None
    ]
    flagged = any(item.value == "flag" for item in extra)
    if isinstance(result.value, float):
        slower = result.value < 1
        text = ("⚠️ " if slower else "") + f"{figure(result.value)}×"
        return Value(text=text, state="warn" if slower else "ok", footnotes=footnotes, flagged=flagged)
    return Value(
        text=SYMBOLS.get(result.value, "–"),
        state=STATES.get(result.value, "none"),
        footnotes=footnotes,
        flagged=flagged,
    )
