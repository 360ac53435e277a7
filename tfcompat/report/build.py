"""The collected records → the report's model: machines, the answer, grids, row lists, notes.

Machines are where verify records were made (chip and OS version: after a macOS update the new
version is its own machine), Macs first, newest first, then one that is no machine: "any
Apple-silicon Mac", answered from predictions alone. The grids and the answer of a real Mac use
its own runs first and fall back to predictions (marked so) where it has none.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache

from packaging.version import InvalidVersion, Version

from tfcompat.matrix import Matrix, Row
from tfcompat.report import cells
from tfcompat.report.cells import Place
from tfcompat.report.collect import Collection, Entry, MachineKey
from tfcompat.report.evidence import GATES, LEGEND_NOTE, LEVELS, VERIFIED, legend
from tfcompat.report.history import abi_result, changes_of, disagreements, flags_of, row_label
from tfcompat.report.install import install_command, lock_name, lock_text
from tfcompat.report.model import (
    COLUMNS,
    Answer,
    Compatibility,
    Evidence,
    Grid,
    GridCell,
    GridRow,
    LegendEntry,
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

    def build(self, *, generated: str, host_os: str) -> Built:
        pythons = self._pythons()
        tf_versions, metal_versions = self._releases()
        grids = []
        answers = []
        macs = [(key, machine) for key, machine in self.machines.items() if machine.os == "Darwin"]
        for key, machine in [*macs, (None, _predicted_machine())]:
            machine_grids = [
                self._grid(key, machine, python, tf_versions, metal_versions) for python in pythons
            ]
            grids += machine_grids
            answers.append(
                MachineAnswers(
                    machine=machine.id, answers=[self._answer(key, grid) for grid in machine_grids]
                )
            )
        tables = [self._table(key, machine, host_os) for key, machine in self.machines.items()] or [
            self._table(None, None, host_os)
        ]
        report = Compatibility(
            schema=2,
            generated=generated,
            record_count=self.found.count,
            machines=[*self.machines.values(), _predicted_machine()],
            answers=answers,
            legend=[
                LegendEntry(level=level, marks=marks, meaning=meaning) for level, marks, meaning in legend()
            ],
            legend_note=LEGEND_NOTE,
            tables=tables,
            grids=grids,
            footnotes=self.notes.footnotes,
            flags=flags_of(self.found, self.labels.get),
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
            host = entry.record.host
            kind_virtual = host.ci is not None and host.ci.runner_environment != "self-hosted"
            gpus = [clean(gpu.name) for gpu in host.gpus]
            virtual = kind_virtual or any(gpu.virtual for gpu in host.gpus)
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
                newest=entry.record.started,
            )
        return machines

    def _pythons(self) -> list[str]:
        pythons = {row.python for row in self.matrix.rows}
        for release in self.found.metal_releases.values():
            pythons.update(python for python in release.pythons if _PYTHON.fullmatch(python))
        return sorted(pythons, key=lambda python: int(python.split(".")[1]), reverse=True)

    def _releases(self) -> tuple[list[str], list[str]]:
        tf = {row.tf for row in self.matrix.rows} | set(self.found.tf_releases)
        metal = {row.metal for row in self.matrix.rows if row.has_plugin} | set(self.found.metal_releases)
        return _newest_first(tf), ["none", *_newest_first(metal)]

    # The evidence of a pair

    def _evidence(self, key: MachineKey | None, machine: Machine, python: str, tf: str, metal: str):
        """(strongest-first evidence, install command, its note) of a pair on a machine."""
        predicted, install, note, minimum, origin = self._predicted(python, tf, metal)
        found = list(predicted)
        row = self.rows.get((python, tf, metal))
        if key is not None and row is not None:
            entry = self.found.verify.get((key, row.key))
            if entry is not None:
                found.append(
                    cells.verify_evidence(entry, self.notes, Place(machine.label, python, tf, metal))
                )
        if key is not None and minimum and cells.older_macos(machine.os_version, minimum):
            found.append(cells.needs_macos(minimum, machine.os_version, origin))
        return cells.strongest_first(found), install, note

    @cache  # noqa: B019 - one builder per report; the cache dies with it
    def _predicted(self, python: str, tf: str, metal: str):
        """Machine-independent evidence: predictions, install gates, the claim; with the install
        command, its note, the pair's minimum macOS and where that came from."""
        if metal == "none":
            return (), None, None, None, ""
        place = Place("", python, tf, metal)
        held = self.found.map_cells.get((tf, metal))
        abi_entry = self.found.abi.get((python, tf, metal))
        found: list[Evidence] = []
        install, minimum, origin = None, None, ""
        if held is not None:
            map_entry, cell = held
            origin = cells.source(map_entry)
            preflight = cell.pythons.get(python)
            missing = self._missing_wheels(python, tf, metal)
            if preflight is None and missing:
                found.append(cells.no_wheel(python, missing, origin))
            gate = cells.preflight_gate(preflight, self.notes, place, origin)
            if gate is not None:
                found.append(gate)
            install = preflight.install if preflight is not None else None
            minimum = cell.min_macos
            if abi_entry is None or abi_entry.order < map_entry.order:
                found += cells.prediction(cell, origin, self.notes, place)
        if abi_entry is not None and (held is None or abi_entry.order >= held[0].order):
            origin = cells.source(abi_entry)
            found += cells.prediction(abi_entry.record.abi, origin, self.notes, place)
            minimum = abi_entry.record.abi.min_macos or minimum
        supports = self.claims.get((tf, metal))
        if supports is not None:
            found.append(cells.claim(supports))
        command, note = (
            install_command(tf, metal, install) if _is_release(tf) and _is_release(metal) else (None, None)
        )
        return tuple(found), command, note, clean(minimum) or None, origin

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
    ) -> Grid:
        rows = []
        for tf in tf_versions:
            row_cells = []
            for metal in metal_versions:
                evidence, install, _ = self._evidence(key, machine, python, tf, metal)
                row_cells.append(
                    GridCell(
                        metal=metal,
                        anchor=anchor(machine.id, python, tf, metal),
                        evidence=evidence,
                        install=install,
                    )
                )
            rows.append(GridRow(tf=tf, cells=row_cells))
        return Grid(machine=machine.id, python=python, metal=metal_versions, rows=rows)

    def _answer(self, key, grid: Grid) -> Answer:
        """The newest pair with the strongest evidence that it works (a training hazard ranks
        below a pair without one; final releases before pre-releases)."""
        candidates = []
        for row in grid.rows:
            for cell in row.cells:
                if cell.metal == "none" or not cell.evidence:
                    continue
                best = cell.evidence[0]
                if best.outcome in ("works", "hazard") and best.level not in GATES:
                    candidates.append((row.tf, cell, best))
        if not candidates:
            return Answer(python=grid.python, pair=None, reason=self._why_nothing(grid))

        def strength(item) -> tuple:
            tf, cell, best = item
            return (
                list(LEVELS).index(best.level),
                best.outcome == "hazard",
                _version(tf).is_prerelease or _version(cell.metal).is_prerelease,
                [-part for part in _version(tf).release],
                [-part for part in _version(cell.metal).release],
            )

        candidates.sort(key=strength)
        tf, cell, best = candidates[0]
        newest = min(candidates, key=lambda item: (
            [-part for part in _version(item[0]).release], [-part for part in _version(item[1].metal).release]
        ))  # fmt: skip
        newer = None
        if (_version(newest[0]), _version(newest[1].metal)) > (_version(tf), _version(cell.metal)):
            newer = Pair(tf=newest[0], metal=newest[1].metal, evidence=newest[2])
        _, command, note = self._evidence(key, _machine_of(grid, self), grid.python, tf, cell.metal)
        lock = self._lock_for(key, grid.python, tf, cell.metal) if best.level in VERIFIED else None
        return Answer(
            python=grid.python,
            pair=Pair(tf=tf, metal=cell.metal, evidence=best),
            install=command,
            install_note=note,
            lock=lock,
            newer=newer,
        )

    def _why_nothing(self, grid: Grid) -> str:
        has_plugin_wheel = any(
            grid.python in release.pythons for release in self.found.metal_releases.values()
        )
        if self.found.metal_releases and not has_plugin_wheel:
            return f"no tensorflow-metal release has a wheel for Python {grid.python}"
        return f"nothing has evidence that a pair works on Python {grid.python}"

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
        found, _, _ = self._evidence(key, machine or _predicted_machine(), row.python, row.tf, row.metal)
        evidence = found[0] if found else None
        return TableRow(
            anchor=anchor(machine.id if machine else PREDICTED, row.python, row.tf, row.metal),
            python=row.python,
            tf=row.tf,
            metal=row.metal,
            label=place,
            values=values,
            evidence=evidence,
            lock=self._lock_for(key, row.python, row.tf, row.metal) if key else None,
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
        return name

    def _logs(self, entry: Entry) -> list[Link]:
        """Links to the probes' full logs beside the record, when they are files inside the folder."""
        links = []
        for probe_name, probe in (entry.record.probes or {}).items():
            for stream, relative in sorted((probe.logs or {}).items()):
                target = os.path.realpath(entry.path.parent / relative)
                if os.path.commonpath([self.folder, target]) != self.folder or not os.path.isfile(target):
                    continue
                if os.path.islink(entry.path.parent / relative):
                    continue
                href = os.path.relpath(target, self.folder).replace(os.sep, "/")
                links.append(Link(text=f"{clean(probe_name)} {clean(stream)}", href=clean(href)))
        return links


def _machine_of(grid: Grid, builder: _Builder) -> Machine:
    for machine in builder.machines.values():
        if machine.id == grid.machine:
            return machine
    return _predicted_machine()


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
