"""The collected records → the report's model: machines, the answer, grids, row lists, notes.

Machines are where verify records were made (chip and OS version: after a macOS update the new
version is its own machine), Macs first, newest first, then one that is no machine: "any
Apple-silicon Mac", answered from predictions alone. The grids and the answer of a real Mac use
its own runs first and fall back to predictions (marked so) where it has none.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple
from urllib.parse import quote

from packaging.version import InvalidVersion, Version

from tfcompat.core.matrix import Matrix, Row
from tfcompat.report import cells
from tfcompat.report.cells import Place
from tfcompat.report.collect import Collection, Entry, MachineKey
from tfcompat.report.evidence import GATES, LEGEND, LEVELS, VERIFIED, machine_kind
from tfcompat.report.history import abi_result, changes_of, disagreements, flags_of, row_label
from tfcompat.report.install import install_command, lock_name, lock_text, new_environment
from tfcompat.report.model import (
    COLUMNS,
    Answer,
    Compatibility,
    Evidence,
    ForOlderMacos,
    Grid,
    GridCell,
    GridRow,
    Link,
    Machine,
    MachineAnswers,
    Pair,
    Table,
    TableRow,
)
from tfcompat.report.notes import Notes
from tfcompat.report.rows import Result, no_verdict_note, value, verify_results
from tfcompat.report.text import clean

PREDICTED = "any-mac"
_PYTHON = re.compile(r"3\.[0-9]{1,2}")


class Predicted(NamedTuple):
    """What holds for a pair and Python on any Mac: its evidence (predictions, install gates, the
    claim), the command that installs it today and its note, its macOS floor, where that came
    from, and the Keras the command brings."""

    evidence: tuple[Evidence, ...] = ()
    command: str | None = None
    note: str | None = None
    floor: str | None = None
    origin: str = ""
    keras: str | None = None


@dataclass
class Built:
    report: Compatibility
    locks: dict[str, str] = field(default_factory=dict)  # path under the folder → text


def build(matrix: Matrix, found: Collection, *, generated: str, host_os: str, folder: str) -> Built:
    return _Builder(matrix, found, folder).build(generated=generated, host_os=host_os)


class _Builder:
    def __init__(self, matrix: Matrix, found: Collection, folder: str) -> None:
        self.matrix, self.found, self.folder = matrix, found, folder
        self.notes = Notes()
        self.locks: dict[str, str] = {}
        self.rows = {row.key: row for row in matrix.rows}
        self.claims = {(row.tf, row.metal): row.supports for row in matrix.rows if row.has_plugin}
        self.machines = self._machines()
        self.labels = {key: machine.label for key, machine in self.machines.items()}
        self.evidence: list[Evidence] = []  # what grid cells point to, each piece once
        self._indices: dict[int, int] = {}
        self._predicted_grids: set[str] = set()  # Pythons the predicted machine has a grid for
        self.locks_by_row: dict = {}  # (machine, row) → the lock of an answer, shown in its row too

    def build(self, *, generated: str, host_os: str) -> Built:
        pythons = self._pythons()
        releases = self._releases()
        macs = [(key, machine) for key, machine in self.machines.items() if machine.os == "Darwin"]
        grids: dict[str, list[Grid]] = {}
        answers: dict[str, MachineAnswers] = {}
        # The predicted machine first: the cells of a real Mac that add nothing to its prediction
        # link to the predicted cell's details.
        for key, machine in [(None, _predicted_machine()), *macs]:
            found = [self._grid(key, machine, python, *releases) for python in pythons]
            grids[machine.id] = [grid for grid, _ in found if grid is not None]
            answers[machine.id] = MachineAnswers(machine=machine.id, answers=[answer for _, answer in found])
        order = [machine.id for _, machine in macs] + [PREDICTED]
        tables = [self._table(key, machine, host_os) for key, machine in self.machines.items()] or [
            self._table(None, None, host_os)
        ]
        for group in answers.values():
            _advise_other_pythons(group.answers)
        report = Compatibility(
            schema=3,
            generated=generated,
            record_count=self.found.count,
            machines=[*self.machines.values(), _predicted_machine()],
            answers=[answers[machine] for machine in order],
            legend=list(LEGEND),
            tables=tables,
            grids=[grid for machine in order for grid in grids[machine]],
            evidence=self.evidence,
            footnotes=self.notes.footnotes,
            flags=flags_of(self.found, list(self.machines), self.labels.get),
            changes=changes_of(self.found, self.labels.get),
            skipped=self.found.skipped,
            repaired=self.found.repaired,
        )
        return Built(report, self.locks)

    # Machines

    def _machines(self) -> dict[MachineKey, Machine]:
        newest_first = sorted(self.found.machines.items(), key=lambda item: item[1].order, reverse=True)
        # sorted() is stable: Macs lead, newest first; other hosts verify TensorFlow alone.
        ordered = sorted(newest_first, key=lambda item: item[0][0] != "Darwin")
        machines = {}
        for number, (key, entry) in enumerate(ordered, start=1):
            host = entry.scanned.header.host  # the newest record's head: enough for its facts
            gpus = [clean(gpu.name) for gpu in host.gpus]
            virtual = machine_kind(host)[0] == "virtual"
            os_name, arch, chip, version = key
            if os_name == "Darwin":
                label = f"{chip or arch} · macOS {version}"
            else:
                label = f"{os_name} {arch} · {version}"
            if virtual:
                label += " (virtual GPU)" if gpus else " (hosted CI)"
            machines[key] = Machine(
                id=f"m{number}",
                label=label,
                os=os_name,
                os_version=version,
                arch=arch,
                chip=chip or None,
                gpus=gpus,
                virtual=virtual,
                ci=clean(host.ci.provider) if host.ci else None,
                newest=entry.scanned.header.started,
            )
        return machines

    def _pythons(self) -> list[str]:
        pythons = {row.python for row in self.matrix.rows}
        for release in [*self.found.metal_releases.values(), *self.found.tf_releases.values()]:
            pythons.update(python for python in release.pythons if _PYTHON.fullmatch(python))
        return sorted(pythons, key=lambda python: int(python.split(".")[1]), reverse=True)

    def _releases(self) -> tuple[list[str], list[str]]:
        tf = {row.tf for row in self.matrix.rows} | set(self.found.tf_releases)
        metal = {row.metal for row in self.matrix.rows if row.has_plugin} | set(self.found.metal_releases)
        return _newest_first(tf), ["none", *_newest_first(metal)]

    # The evidence of a pair

    def _evidence(self, key: MachineKey | None, machine: Machine, python: str, tf: str, metal: str):
        """(strongest-first evidence, whether the machine adds its own, install command, its note)."""
        predicted = self._predicted(python, tf, metal)
        own = []
        if key is not None and (python, tf, metal) in self.rows:
            verified = self._verified(key, (python, tf, metal))
            if verified is not None:
                own.append(verified)
        floor = predicted.floor
        if key is not None and floor and cells.older_macos(machine.os_version, floor):
            own.append(cells.needs_macos(floor, machine.os_version, predicted.origin))
        evidence = cells.strongest_first([*predicted.evidence, *own])
        return evidence, bool(own), predicted.command, predicted.note

    @cache  # noqa: B019 - one builder per report; the cache dies with it
    def _verified(self, key: MachineKey, row: tuple[str, str, str]) -> Evidence | None:
        entry = self.found.verify.get((key, row))
        if entry is None:
            return None
        return cells.verify_evidence(entry, self.notes, Place(self.labels[key], *row))

    def _index(self, evidence: Evidence) -> int:
        index = self._indices.get(id(evidence))
        if index is None:
            index = self._indices[id(evidence)] = len(self.evidence)
            self.evidence.append(evidence)
        return index

    @cache  # noqa: B019 - one builder per report; the cache dies with it
    def _predicted(self, python: str, tf: str, metal: str):
        """Machine-independent evidence: predictions, install gates, the claim; with the install
        command the engine resolved for this Python today, its note, the oldest macOS the pair
        installs and loads on (its floors), where that came from, and the Keras the command brings."""
        if metal == "none":
            return Predicted()
        place = Place("", python, tf, metal)
        held = self.found.map_cells.get((tf, metal))
        abi_entry = self.found.abi.get((python, tf, metal))
        newer_abi = abi_entry is not None and (held is None or abi_entry.order >= held[0].order)
        found: list[Evidence] = []
        preflight, floors, origin = None, None, ""
        if held is not None:
            map_entry, cell = held
            origin = cells.source(map_entry)
            preflight, floors = cell.pythons.get(python), cell.floors
            missing = self._missing_wheels(python, tf, metal)
            if preflight is None and missing:
                found.append(cells.no_wheel(python, missing, origin))
            if not newer_abi:
                found += cells.prediction(cell, origin, self.notes, place)
        if newer_abi:
            abi = abi_entry.record.abi
            origin = cells.source(abi_entry)
            found += cells.prediction(abi, origin, self.notes, place)
            preflight, floors = abi.preflight or preflight, abi.floors or floors
        gate = cells.preflight_gate(preflight, self.notes, place, origin)
        if gate is not None:
            found.append(gate)
        # PyPI's table names no Python: its claim holds where the matrix has the pair, or the
        # engine found wheels of both for this Python.
        supports = self.claims.get((tf, metal))
        has_wheels = preflight is not None and preflight.status != "no_wheel"
        if supports is not None and ((python, tf, metal) in self.rows or has_wheels):
            found.append(cells.claim(supports))
        install = preflight.install if preflight is not None else None
        command, note = (
            install_command(tf, metal, install) if _is_release(tf) and _is_release(metal) else (None, None)
        )
        keras = (clean(install.keras) or None) if install is not None and command else None
        return Predicted(tuple(found), command, note, cells.macos_floor(floors), origin, keras)

    def _missing_wheels(self, python: str, tf: str, metal: str) -> list[str]:
        missing = []
        for name, release in (
            ("TensorFlow", self.found.tf_releases.get(tf)),
            ("tensorflow-metal", self.found.metal_releases.get(metal)),
        ):
            if release is not None and python not in release.pythons:
                missing.append(f"{name} {tf if name == 'TensorFlow' else metal} has none")
        return missing

    # Grids and the answer

    def _grid(
        self, key, machine: Machine, python: str, tf_versions: list[str], metal_versions: list[str]
    ) -> tuple[Grid | None, Answer]:
        """The machine's grid for ``python`` and its answer. No grid when no pair has a wheel for
        ``python``, nor for a real Mac that has nothing of its own there (no run, no macOS limit)."""
        rows, candidates, shown, owned = [], [], False, False
        for tf in tf_versions:
            row_cells = []
            for metal in metal_versions:
                evidence, own, command, _ = self._evidence(key, machine, python, tf, metal)
                here = anchor(machine.id, python, tf, metal)
                shared = key is not None and not own and python in self._predicted_grids
                row_cells.append(
                    GridCell(
                        metal=metal,
                        anchor=here,
                        evidence=[self._index(item) for item in evidence],
                        details=anchor(PREDICTED, python, tf, metal) if shared else here,
                        install=command if key is None else None,
                    )
                )
                best = evidence[0] if evidence else None
                shown = shown or (best is not None and best.level not in GATES)
                owned = owned or own
                if (
                    metal != "none"
                    and best
                    and best.outcome in ("works", "hazard")
                    and best.level not in GATES
                ):
                    candidates.append((tf, metal, best))
            rows.append(GridRow(tf=tf, cells=row_cells))
        if key is None and shown:
            self._predicted_grids.add(python)
        # A real Mac's grid only where it adds its own evidence: elsewhere it is the predicted grid.
        if key is not None:
            shown = owned
        grid = Grid(machine=machine.id, python=python, metal=metal_versions, rows=rows) if shown else None
        return grid, self._answer(key, machine, python, candidates)

    def _answer(self, key, machine: Machine, python: str, candidates: list) -> Answer:
        """The newest pair with the strongest evidence that it works (at the same strength, a
        training hazard or a GPU slower than the CPU ranks below a pair without; final releases
        before pre-releases), the oldest macOS it installs and loads on, and for older macOS
        releases the pair to take there instead."""
        if not candidates:
            return Answer(python=python, pair=None, reason=self._why_nothing(python))
        ranked = sorted(candidates, key=_strength)
        tf, metal, best = ranked[0]
        newest = min(candidates, key=lambda item: _newest(item[0], item[1]))
        newer = None
        if _newest(*newest[:2]) < _newest(tf, metal):
            newer = Pair(tf=newest[0], metal=newest[1], evidence=newest[2])
        _, _, command, note = self._evidence(key, machine, python, tf, metal)
        predicted = self._predicted(python, tf, metal)
        return Answer(
            python=python,
            pair=Pair(tf=tf, metal=metal, evidence=best),
            install=command,
            install_note=note,
            keras=predicted.keras,
            needs_macos=predicted.floor,
            older_macos=self._for_older_macos(key, machine, python, ranked, predicted.floor),
            lock=self._lock_for(key, python, tf, metal) if best.level in VERIFIED else None,
            newer=newer,
        )

    def _for_older_macos(self, key, machine, python, ranked: list, floor: str | None) -> list[ForOlderMacos]:
        """Below the answer's macOS floor, down to the oldest floor of any candidate: the best pair
        whose own floor is older, as the answer is chosen (on a Mac, its own macOS decides)."""
        steps = []
        while floor is not None and key is None:
            below = [item for item in ranked if _floor_below(self._predicted(python, *item[:2]).floor, floor)]
            if not below:
                steps.append(ForOlderMacos(below=floor, pair=None))
                break
            tf, metal, best = below[0]
            _, _, command, _ = self._evidence(key, machine, python, tf, metal)
            older = self._predicted(python, tf, metal).floor
            steps.append(
                ForOlderMacos(
                    below=floor,
                    pair=Pair(tf=tf, metal=metal, evidence=best),
                    install=command,
                    needs_macos=older,
                )
            )
            floor = older
        return steps

    def _why_nothing(self, python: str) -> str:
        releases = self.found.metal_releases.values()
        if releases and not any(python in release.pythons for release in releases):
            return f"no tensorflow-metal release has a wheel for Python {python}"
        if not self.found.map_cells:
            return f"nothing has evidence that a pair works on Python {python}: no map record (nox -s map)"
        if self.found.map_error is not None:
            why = self.found.map_error[1]
            return f"not answered for Python {python}: the newest map is not whole ({why})"
        return f"nothing has evidence that a pair works on Python {python}"

    # Row lists

    def _table(self, key: MachineKey | None, machine: Machine | None, host_os: str) -> Table:
        rows = [
            self._table_row(key, machine, row, host_os) for row in _controls_beside_pairs(self.matrix.rows)
        ]
        return Table(
            machine=machine.id if machine else PREDICTED,
            title=machine.label if machine else "No verify records yet",
            newest=machine.newest if machine else None,
            rows=rows,
        )

    def _table_row(self, key, machine: Machine | None, row: Row, host_os: str) -> TableRow:
        label = machine.label if machine else ""
        place = row_label(row)
        verify = self.found.verify.get((key, row.key)) if key else None
        newer_error = self.found.verify_no_verdict.get((key, row.key)) if key else None
        abi = self.found.abi.get(row.key)
        abi_error = self.found.abi_no_verdict.get(row.key)
        results = {"supports": Result(row.supports)}
        results["abi"] = (
            abi_result(abi.record) if abi else Result(None, "ABI not checked yet" if row.has_plugin else None)
        )
        results |= (
            verify_results(verify.record) if verify else _not_run(row, machine.os if machine else host_os)
        )
        extra: dict[str, list[Result]] = {column: [] for column in COLUMNS}
        for column, text in disagreements(verify, abi):
            extra[column].append(Result("flag", text))
        if abi_error is not None and (abi is None or abi.order < abi_error.order):
            extra["abi"].append(Result(None, *no_verdict_note(abi_error)))
        if newer_error is not None and (verify is None or verify.order < newer_error.order):
            extra["import"].append(Result(None, *no_verdict_note(newer_error)))
        values = {}
        for column in COLUMNS:
            # A prediction holds on any host: its footnote names no machine.
            where = "" if column in ("abi", "supports") else label
            values[column] = value(
                results[column], self.notes, machine=where, place=place, extra=extra[column]
            )
        found, _, _, _ = self._evidence(key, machine or _predicted_machine(), row.python, row.tf, row.metal)
        evidence = found[0] if found else None
        return TableRow(
            anchor=anchor(machine.id if machine else PREDICTED, row.python, row.tf, row.metal),
            python=row.python,
            tf=row.tf,
            metal=row.metal,
            label=place,
            values=values,
            evidence=evidence,
            lock=self.locks_by_row.get((key, row.key)),
            logs=self._logs(verify) if verify else [],
        )

    def _lock_for(self, key, python: str, tf: str, metal: str) -> str | None:
        entry = self.found.verify.get((key, (python, tf, metal)))
        if entry is None or entry.record.verdict != "ok":
            return None
        name = lock_name(entry.record, python, tf, metal, entry.name)
        if name not in self.locks:
            text = lock_text(entry.record, name=entry.name, machine=self.labels[key])
            if text is None:
                return None
            self.locks[name] = text
            self.locks_by_row[(key, (python, tf, metal))] = name
        return name

    def _logs(self, entry: Entry) -> list[Link]:
        """Links to the probes' full logs beside the record, when they are files inside the folder."""
        links = []
        for probe_name, probe in (entry.record.probes or {}).items():
            for stream, relative in sorted((probe.logs or {}).items()):
                given = os.path.join(os.path.dirname(entry.path), relative)
                target = os.path.realpath(given)
                if os.path.commonpath([self.folder, target]) != self.folder or not os.path.isfile(target):
                    continue  # a link never leads out of the folder
                if os.path.islink(given):
                    continue
                # "./" and quoting: a file named "javascript:..." or "a#b" stays a path in the folder.
                href = "./" + quote(clean(os.path.relpath(target, self.folder)).replace(os.sep, "/"))
                links.append(Link(text=f"{clean(probe_name)} {clean(stream)}", href=href))
        return links


def _not_run(row: Row, os_name: str) -> dict[str, Result]:
    if row.has_plugin and os_name != "Darwin":
        reason = f"not run here: tensorflow-metal has no wheels for {os_name}"
    else:
        reason = "not run yet"
    return {column: Result(None) for column in ("devices", "verify", "agrees", "speedup")} | {
        "import": Result(None, reason)
    }


def _controls_beside_pairs(rows: tuple[Row, ...]) -> list[Row]:
    """Rows by Python (in matrix order), TensorFlow newest first, its control first, then its pairs."""
    pythons = list(dict.fromkeys(row.python for row in rows))
    return sorted(
        rows,
        key=lambda row: (
            pythons.index(row.python),
            [-part for part in _version(row.tf).release],
            row.has_plugin,
            [-part for part in _version(row.metal).release] if row.has_plugin else [],
        ),
    )


@cache
def _predicted_machine() -> Machine:
    return Machine(
        id=PREDICTED,
        label="Any Apple-silicon Mac (predicted from the wheels; nothing run)",
        os="Darwin",
        os_version="",
        arch="arm64",
        chip=None,
        predicted=True,
    )


def anchor(machine: str, python: str, tf: str, metal: str) -> str:
    return f"{machine}-py{python}-tf{tf}-metal{metal}"


@cache
def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def _is_release(text: str) -> bool:
    try:
        return text == "none" or str(Version(text)) == text
    except InvalidVersion:
        return False


def _newest_first(versions: set[str]) -> list[str]:
    return sorted((v for v in versions if _is_release(v)), key=_version, reverse=True)


def _newest(tf: str, metal: str) -> tuple:
    """Sort key: the newest pair first."""
    return ([-part for part in _version(tf).release], [-part for part in _version(metal).release])


def _strength(item) -> tuple:
    """Sort key of a candidate answer: strongest evidence, no caveat, final releases, newest."""
    tf, metal, best = item
    return (
        list(LEVELS).index(best.level),
        best.outcome == "hazard" or best.slower is not None,
        _version(tf).is_prerelease or _version(metal).is_prerelease,
        _newest(tf, metal),
    )


def _floor_below(floor: str | None, than: str) -> bool:
    """Whether a pair's macOS floor is older than ``than`` (no floor known: not chosen for older)."""
    return floor is not None and cells.older_macos(floor, than)


def _advise_other_pythons(answers: list[Answer]) -> None:
    """A Python with no working pair gets the newest Python that has one, and the commands that
    make an environment of it (uv installs the interpreter where none is)."""
    for answer in answers:
        if answer.pair is not None:
            continue
        other = next(
            (
                found
                for found in sorted(answers, key=lambda item: _version(item.python), reverse=True)
                if found.pair is not None and found.install
            ),
            None,
        )
        if other is None:
            continue
        python = other.python
        answer.reason = f"{answer.reason}: use Python {python}, the newest with a working pair"
        answer.steps = [shlex.join(step) for step in new_environment(python, other.install)]
