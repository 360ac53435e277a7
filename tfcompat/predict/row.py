"""One abi run: a row's pair through the map's engine, for the row's Python, as a record.

An ``abi(...)`` session asks ``pairmap.predict`` about its one pair, the question the map asks
about every pair, so the two can never disagree: the load verdict in dyld's words, the second
layer, the floors, the training hazard, and for the row's Python whether the pair installs from
wheels and the command that installs it today. The map's caches are shared: after ``nox -s
map`` an ``abi`` session reads its answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from tfcompat.abi import dyld
from tfcompat.core.errors import TfcompatError
from tfcompat.core.host import host_info, tool_versions
from tfcompat.core.matrix import Row
from tfcompat.core.record import Abi, Record, make_record, now, write_record
from tfcompat.core.uvcall import uv_binary
from tfcompat.predict import pairmap


def run_abi(
    row: Row, *, log: Callable[[str], None] = print, answers: dict | None = None
) -> tuple[Record, Path]:
    """Predict ``row``'s pair on a Mac with the row's Python; return the record and where it was
    written. ``answers``: the index's answers of this run (``pairmap.predict``).

    A bad wheel or an unreachable index is a verdict of ``error`` (no prediction), with the
    one-line reason in ``abi.error``: it says nothing about the pair.
    """
    started_at, started = now(), time.monotonic()
    host, tools = host_info(), tool_versions(uv_binary())
    try:
        mapped = pairmap.predict(tf=[row.tf], metal=[row.metal], log=log, answers=answers)
    except TfcompatError as exc:
        section = Abi(verdict=None, error=str(exc))
        log(f"abi: no prediction: {exc}")
    else:
        section = abi_section(mapped, row.tf, row.metal, row.python)
        first = (section.first or section.error or "").splitlines()[:1]
        log(f"abi: {section.verdict or 'no prediction'}" + (f": {first[0]}" if first else ""))
        _log_details(section, log)
    section.seconds = round(time.monotonic() - started, 3)
    record = make_record(
        "abi",
        row,
        host=host,
        tools=tools,
        started=started_at,
        verdict=section.verdict or "error",
        abi=section,
    )
    return record, write_record(record)


def abi_section(mapped: pairmap.Mapped, tf: str, metal: str, python: str) -> Abi:
    """The ``abi`` section of one pair and Python, from what the engine found for it."""
    cell = mapped.cells[tf, metal]
    wheels = [
        next(release for release in releases if release.version == version).record().wheel
        for releases, version in ((mapped.tf, tf), (mapped.metal, metal))
    ]
    fields = {key: value for key, value in cell.items() if key not in ("tf", "metal", "abi", "pythons")}
    section = msgspec.convert(
        {**fields, "verdict": cell["abi"], "preflight": cell["pythons"].get(python)}, Abi
    )
    section.wheels = wheels
    section.not_checked = list(dyld.NOT_CHECKED)
    if section.error is None and mapped.error and section.verdict is None:
        section.error = mapped.error
    return section


def _log_details(section: Abi, log: Callable[[str], None]) -> None:
    """The session's lines beside the load verdict: the training hazard and today's command."""
    hazard = section.hazard
    if hazard is not None and hazard.predicted is None:
        log(f"hazard: no prediction: {hazard.error}")
    elif hazard is not None:
        log(f"hazard: training predicted {hazard.predicted} with {hazard.keras}: {hazard.reason}")
    install = section.preflight.install if section.preflight is not None else None
    if install is not None and install.works:
        log(f"install today: {install.command}")
