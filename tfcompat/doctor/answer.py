"""What the map's engine and the answer say about an environment's pair and its Python.

One engine call (``pairmap.predict``, the map's and the ``abi`` sessions' engine) gives the cell
of the installed pair (load verdict in dyld's words, second layer, floors, hazard, the release
set per Python) and the cell of the recommended pair (its install command as resolved today).

The recommended pair is the answer's: the report built from the records folder (``report``:
collect, build), for this Mac's own machine where it has records, else for any Apple-silicon
Mac; where the records give no pair for this Python, the engine is asked about the newest
releases that have wheels for it, newest TensorFlow first, with the newest plugin for it
(``_search``: a private stand-in for a public ``recommend`` function, see the README).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.version import Version

from tfcompat.abi import frameworks
from tfcompat.core import macos as mac
from tfcompat.core.config import cache_dir, reports_dir, sessions_dir
from tfcompat.core.errors import TfcompatError
from tfcompat.core.matrix import MatrixError, load_matrix
from tfcompat.core.record import InstallCommand, now
from tfcompat.predict import pairmap
from tfcompat.report.build import PREDICTED, build
from tfcompat.report.collect import collect
from tfcompat.report.evidence import mark
from tfcompat.report.install import install_command
from tfcompat.report.read import scan_folder

#: TensorFlow releases asked per engine call while searching for a pair (newest first): enough
#: for every Python today (2.21 and 2.20 fail to load, 2.19.1 loads) in one call.
SEARCH_BATCH = 3


@dataclass
class Recommended:
    python: str
    tf: str
    metal: str
    evidence: str  # the mark and its words
    source: str
    install: str | None = None  # today's command (``python -m pip install ...``), None: none today
    install_note: str | None = None
    cell: dict | None = None


@dataclass
class Answers:
    """The engine's cells for the pairs asked, the releases on the index, the recommendation."""

    cells: dict[tuple[str, str], dict] = field(default_factory=dict)
    tf_releases: dict[str, pairmap.MapRelease] = field(default_factory=dict)
    metal_releases: dict[str, pairmap.MapRelease] = field(default_factory=dict)
    recommended: Recommended | None = None
    #: This Python has no pair at all: the newest Python that has one (the fix is a new environment).
    other_python: str | None = None
    unknown: str | None = None  # why the engine could not answer (no map, no network)
    reason: str | None = None  # why there is no recommendation

    def cell(self, tf: str | None, metal: str | None) -> dict | None:
        return self.cells.get((tf, metal)) if tf and metal else None


def ask(
    python: str,
    tf: str | None,
    metal: str | None,
    *,
    macos: str | None,
    chip: str | None,
    log: Callable[[str], None],
) -> Answers:
    """The engine's answers for the installed pair (``tf``/``metal``: versions, None when not
    installed) and the recommendation for ``python`` on ``macos`` (None: any macOS)."""
    found = Answers()
    named = tuple(version for version in (tf, metal) if version)
    try:
        releases = pairmap.releases(root=cache_dir(), log=log, named=named)
    except TfcompatError as exc:
        found.unknown = str(exc)
        return found
    found.tf_releases = {release.version: release for release in releases.tf}
    found.metal_releases = {release.version: release for release in releases.metal}
    target = python
    served = {p for release in releases.metal for p in release.pythons}
    if python not in served:
        found.other_python = target = max(served, key=Version, default=None)
        if target is None:
            found.reason = "no tensorflow-metal release on the index has a macOS arm64 wheel"
            return found
    installed_tf = [tf] if tf in found.tf_releases else []
    installed_metal = [metal] if metal in found.metal_releases else []
    recommended = _from_report(target, macos, chip, log)
    try:
        if recommended is not None:
            mapped = _predict([*installed_tf, recommended.tf], [*installed_metal, recommended.metal], log)
            found.cells.update(mapped.cells)
            if _usable(mapped.cells.get((recommended.tf, recommended.metal)), target, macos):
                found.recommended = _completed(recommended, mapped.cells[recommended.tf, recommended.metal])
                return found
        found.recommended = _search(found, target, macos, installed_tf, installed_metal, log)
    except TfcompatError as exc:
        found.unknown = str(exc)
        return found
    if found.recommended is None:
        found.reason = f"the engine finds no pair that loads and installs today for Python {target}"
    elif not found.cells.get((tf, metal)) and installed_tf and installed_metal:
        found.cells.update(_predict(installed_tf, installed_metal, log).cells)
    return found


def _predict(tf: list[str], metal: list[str], log) -> pairmap.Mapped:
    return pairmap.predict(tf=list(dict.fromkeys(tf)), metal=list(dict.fromkeys(metal)), log=log)


def _search(
    found: Answers, python: str, macos: str | None, installed_tf: list[str], installed_metal: list[str], log
) -> Recommended | None:
    """The newest TensorFlow, with the newest plugin that has a wheel for ``python``, that the
    engine predicts to load, that installs from wheels today and suits ``macos``; at the same
    age, a pair without a training hazard first. Asked ``SEARCH_BATCH`` releases at a time."""
    plugins = [r for r in found.metal_releases.values() if python in r.pythons]
    plugin = max(plugins, key=lambda r: Version(r.version)).version
    candidates = sorted(
        (
            r.version
            for r in found.tf_releases.values()
            if python in r.pythons and not Version(r.version).is_prerelease
        ),
        key=Version,
        reverse=True,
    )
    for start in range(0, len(candidates), SEARCH_BATCH):
        batch = candidates[start : start + SEARCH_BATCH]
        mapped = _predict([*installed_tf, *batch], [*installed_metal, plugin], log)
        found.cells.update(mapped.cells)
        installed_tf = installed_metal = []  # asked once
        usable = [tf for tf in batch if _usable(mapped.cells.get((tf, plugin)), python, macos)]
        if usable:
            tf = min(usable, key=lambda v: (_hazard(mapped.cells[v, plugin]), batch.index(v)))
            cell = mapped.cells[tf, plugin]
            evidence = f"{mark('hazard' if _hazard(cell) else 'works')} predicted"
            return _completed(
                Recommended(
                    python, tf, plugin, evidence, "the map's engine, asked now (no record answers it)"
                ),
                cell,
            )
    return None


def _hazard(cell: dict) -> bool:
    return (cell.get("hazard") or {}).get("predicted") == "fails"


def _usable(cell: dict | None, python: str, macos: str | None) -> bool:
    """The cell loads, installs from wheels today for ``python``, and on ``macos`` (when known)."""
    if not cell or cell.get("abi") != "ok":
        return False
    preflight = cell["pythons"].get(python) or {}
    install = preflight.get("install")
    if preflight.get("status") != "installs" or not install or not install.get("works"):
        return False
    if macos and cell.get("floors"):
        on = frameworks.usable_on([{"floors": cell["floors"]}], macos)[0]["on_macos"]
        return on in ("usable", "unknown")
    return True


def _completed(recommended: Recommended, cell: dict) -> Recommended:
    """Today's command for the pair, built from checked parts only (``report.install``)."""
    preflight = cell["pythons"].get(recommended.python) or {}
    section = preflight.get("install")
    command, note = install_command(
        recommended.tf, recommended.metal, InstallCommand(**section) if section else None
    )
    recommended.install, recommended.install_note, recommended.cell = command, note, cell
    return recommended


def _from_report(python: str, macos: str | None, chip: str | None, log) -> Recommended | None:
    """The report's answer for ``python``: this Mac's own (its chip and macOS) where the records
    have one, else any Apple-silicon Mac's; None when no record answers it."""
    folder = reports_dir()
    if not sessions_dir().is_dir():
        return None
    try:
        matrix = load_matrix()
    except MatrixError as exc:
        log(f"doctor: no report answer: {exc}")
        return None
    found = collect(scan_folder(folder, outputs={"compatibility.json"}), matrix)
    if not found.count:
        return None
    report = build(
        matrix, found, generated=now(), host_os=platform.system(), folder=str(folder.resolve())
    ).report
    labels = {machine.id: machine.label for machine in report.machines}
    own = [
        machine.id
        for machine in report.machines
        if machine.os == "Darwin"
        and not machine.predicted
        and machine.chip == chip
        and machine.os_version == macos
    ]
    for machine in [*own, PREDICTED]:
        for answers in report.answers:
            if answers.machine != machine:
                continue
            for answer in answers.answers:
                if answer.python == python and answer.pair is not None:
                    evidence = answer.pair.evidence
                    return Recommended(
                        python,
                        answer.pair.tf,
                        answer.pair.metal,
                        f"{evidence.mark} {evidence.words}",
                        f"the report's answer for {labels.get(machine, machine)} "
                        f"({report.record_count} records)",
                    )
    return None


def requirement_names(tf: str) -> set[str]:
    """The TensorFlow distributions a Mac installs for ``tf`` (a stub and its binaries)."""
    return {mac.install_name(tf), mac.binary_name(tf)}
