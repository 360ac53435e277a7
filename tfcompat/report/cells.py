"""The evidence about one pair, on one machine and Python, strongest first.

Sources: the newest verify record of the row on that machine (with a verdict), the newest abi
record of the row or the map's cell (whichever is newer), the map's install preflight for the
Python, the pair's minimum macOS, and PyPI's claim for the pair.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from tfcompat.core.record import Abi, Floors, MapCell, Preflight
from tfcompat.report.collect import Entry
from tfcompat.report.evidence import OUTCOME_WORDS, SLOWER, mark, rank, verified_level
from tfcompat.report.model import Evidence
from tfcompat.report.notes import Notes
from tfcompat.report.text import clean, first_line, show_time

CLAIM_WORDS = {
    "yes": ("works", "PyPI: listed", "PyPI's table lists the pair"),
    "no": ("fails", "PyPI: not listed", "PyPI's table does not list the pair"),
    "ambiguous": ("unclear", "PyPI: unclear", "PyPI's table is ambiguous about the pair"),
}


@dataclass(frozen=True)
class Place:
    """Where a piece of evidence is shown: the footnotes name it."""

    machine: str  # the machine's label; "" for evidence that holds on any host
    python: str
    tf: str
    metal: str

    @property
    def label(self) -> str:
        pair = f"tf {self.tf} alone" if self.metal == "none" else f"tf {self.tf} + metal {self.metal}"
        return f"{pair} on Python {self.python}"


def source(entry: Entry) -> str:
    return f"{entry.record.kind} record {entry.name} ({show_time(entry.record.started)})"


def verify_evidence(entry: Entry, notes: Notes, place: Place) -> Evidence:
    """A verify record with a verdict, as evidence."""
    record = entry.record
    if record.verdict == "not_installable":
        requirement = clean(record.provision.error) or "a requirement"
        text = f"not installable from wheels: {first_line(requirement)}"
        number = notes.add(text, requirement, machine=place.machine, place=place.label)
        return Evidence(
            level="not-installable",
            outcome="none",
            mark=mark("none"),
            words=f"not installable: {first_line(requirement)}",
            label=f"not installable from wheels: {first_line(requirement)}",
            source=source(entry),
            footnotes=[number],
        )
    level, qualifier, words = verified_level(record, plugin=place.metal != "none")
    outcome = "works" if record.verdict == "ok" else "fails"
    footnotes, label = [], f"{OUTCOME_WORDS[outcome]}: verified {qualifier}"
    failed = next(
        ((name, probe) for name, probe in (record.probes or {}).items() if probe.status == "fail"), None
    )
    if outcome == "fails" and failed:
        name, probe = failed
        signature = clean(probe.signature) or "failed"
        label += f"; {name}: {signature}"
        detail = clean(probe.error) or clean(probe.stderr_tail)
        footnotes.append(notes.add(signature, detail, machine=place.machine, place=place.label))
    slower = _speedup(record)
    is_slower = slower is not None and slower < 1
    if is_slower:
        words += f" · {SLOWER} ({slower:.2g}×)"
        label += f"; {SLOWER} ({slower:.2g}×)"
    return Evidence(
        level=level,
        outcome=outcome,
        mark=mark(outcome, slower=is_slower),
        words=words,
        label=label,
        source=source(entry),
        footnotes=footnotes,
        slower=slower if slower is not None and slower < 1 else None,
    )


def _speedup(record) -> float | None:
    probe = (record.probes or {}).get("speedup")
    if probe is None or probe.status != "ok" or not isinstance(probe.result, dict):
        return None
    value = probe.result.get("speedup")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def prediction(abi: Abi | MapCell, origin: str, notes: Notes, place: Place) -> list[Evidence]:
    """What an abi record or a map cell predicts: loads or fails (the first reason), and the
    training hazard when the wheels carry one. Empty when it has no prediction."""
    verdict = abi.abi if isinstance(abi, MapCell) else abi.verdict
    if verdict is None:
        return []
    found = []
    if verdict == "fail":
        first = clean(abi.first) or "unresolved symbols"
        detail = abi_detail(abi)
        text = f"predicted: {first_line(first)}"
        number = notes.add(text, detail, place=place.label)
        found.append(
            Evidence(
                level="predicted",
                outcome="fails",
                mark=mark("fails"),
                words="predicted: does not load",
                label=f"predicted to fail at load: {first_line(first)}",
                source=origin,
                footnotes=[number],
            )
        )
        return found
    hazard = abi.hazard
    if hazard is not None and hazard.predicted == "fails":
        workaround = clean(hazard.workaround) or None
        text = f"predicted to fail in training: {hazard.kind.upper()}"
        detail = f"{clean(hazard.keras)}: {clean(hazard.reason)}" + (
            f"\nworkaround: {workaround}" if workaround else ""
        )
        found.append(
            Evidence(
                level="predicted",
                outcome="hazard",
                mark=mark("hazard"),
                words=f"predicted: loads, training fails ({hazard.kind.upper()})",
                label=f"predicted to load, and to fail in training ({hazard.kind.upper()})"
                + (f"; workaround: {workaround}" if workaround else ""),
                source=origin,
                footnotes=[notes.add(text, detail, place=place.label)],
                workaround=workaround,
            )
        )
        return found
    footnotes = []
    label, words = "predicted to load", "predicted"
    if hazard is not None and hazard.predicted is None:  # no word on training: say so, never "ok"
        label += "; training: no prediction"
        words += " (training: no prediction)"
        footnotes.append(notes.add("training: no prediction", clean(hazard.error or ""), place=place.label))
    found.append(
        Evidence(
            level="predicted",
            outcome="works",
            mark=mark("works"),
            words=words,
            label=label,
            source=origin,
            footnotes=footnotes,
        )
    )
    return found


def abi_detail(abi: Abi | MapCell) -> str:
    """A predicted failure in full: the first reason, the unresolved names, the second layer."""
    unresolved = [clean(name) for name in getattr(abi, "unresolved", [])]
    more = abi.unresolved_count - len(unresolved)
    lines = [clean(abi.first) or "unresolved symbols", *unresolved] + (
        [f"... and {more} more"] if more > 0 else []
    )
    if abi.second is not None:
        lines.append(second_layer(abi.second))
    return "\n".join(lines)


def second_layer(second) -> str:
    """What a path fix would meet next, in words."""
    if second.verdict is None or second.found_as is None:
        return f"if {clean(second.library)} were found: not checked (the wheel has no such library today)"
    if second.verdict == "ok":
        return f"if {clean(second.library)} were found (as {clean(second.found_as)}): it would load"
    return (
        f"if {clean(second.library)} were found (as {clean(second.found_as)}), it would still fail: "
        f"{first_line(clean(second.first))} ({second.unresolved_count} unresolved): a path fix cannot save it"
    )


def preflight_gate(preflight: Preflight | None, notes: Notes, place: Place, origin: str) -> Evidence | None:
    """No wheel or not installable, from the map's preflight for this Python."""
    if preflight is None or preflight.status not in ("no_wheel", "not_installable"):
        return None
    if preflight.status == "no_wheel":
        return Evidence(
            level="no-wheel",
            outcome="none",
            mark=mark("none"),
            words=f"no wheel for Python {place.python}",
            label=f"no wheel for Python {place.python}",
            source=origin,
        )
    requirement = clean(preflight.requirement) or "a requirement"
    text = f"not installable from wheels: {requirement}"
    return Evidence(
        level="not-installable",
        outcome="none",
        mark=mark("none"),
        words=f"not installable: {requirement} has no arm64 wheel",
        label=f"not installable from wheels as of its release: {requirement} has no macOS arm64 wheel",
        source=origin,
        footnotes=[notes.add(text, place=place.label)],
    )


def no_wheel(python: str, missing: list[str], origin: str) -> Evidence:
    return Evidence(
        level="no-wheel",
        outcome="none",
        mark=mark("none"),
        words=f"no wheel for Python {python}",
        label=f"no wheel for Python {python}: {' and '.join(missing)}",
        source=origin,
    )


@functools.cache  # one piece of evidence per pair minimum and machine version, shared by its cells
def needs_macos(minimum: str, have: str, origin: str) -> Evidence:
    return Evidence(
        level="needs-macos",
        outcome="none",
        mark=mark("none"),
        words=f"needs macOS {minimum}",
        label=f"needs macOS {minimum} or later (this machine has {have})",
        source=origin,
    )


def claim(supports: str) -> Evidence:
    outcome, words, sentence = CLAIM_WORDS[supports]
    return Evidence(
        level="claimed",
        outcome=outcome,
        mark=mark(outcome),
        words=words,
        label=f"claimed: {sentence}",
        source="tensorflow-metal's table on PyPI (expected.toml's supports)",
    )


def macos_floor(floors: Floors | None) -> str | None:
    """The oldest macOS a pair installs and loads on: the newer of its install floor (pip refuses
    a wheel tagged for a newer macOS) and its load floor (dyld refuses a missing non-weak symbol).
    Never the images' minos: dyld does not enforce it. None when neither is known."""
    known = [floor for floor in (floors.install, floors.load) if floor] if floors is not None else []
    try:
        return clean(max(known, key=Version)) or None if known else None
    except InvalidVersion:
        return None


def older_macos(have: str, minimum: str) -> bool:
    try:
        return Version(have) < Version(minimum)
    except InvalidVersion:
        return False


def strongest_first(evidence: list[Evidence]) -> list[Evidence]:
    return sorted(evidence, key=lambda item: rank(item.level, item.outcome))
