"""One abi run: check a row's macOS wheels with the dyld model and write the record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from tfcompat.abi.check import AbiError, check
from tfcompat.core.host import host_info, tool_versions
from tfcompat.core.matrix import Row
from tfcompat.core.record import Abi, Hazard, Record, make_record, now, write_record
from tfcompat.core.uvcall import uv_binary
from tfcompat.hazard.xla import HazardError, no_prediction, predict


def run_abi(row: Row, *, log: Callable[[str], None] = print) -> tuple[Record, Path]:
    """Predict whether ``row``'s plugin loads, and whether its fit compiles with XLA (``hazard``);
    return the record and where it was written.

    A bad wheel or an unreachable index is a verdict of ``error`` (no prediction), with the
    one-line reason in ``abi.error``: it says nothing about the pair.
    """
    started = now()
    host, tools = host_info(), tool_versions(uv_binary())
    try:
        section = msgspec.convert(check(tf=row.tf, metal=row.metal, python=row.python), Abi)
    except AbiError as exc:
        section = Abi(verdict=None, error=str(exc))
        log(f"abi: no prediction: {exc}")
    else:
        first = (section.first or "").splitlines()[:1]
        log(f"abi: {section.verdict} in {section.seconds:.1f} s" + (f": {first[0]}" if first else ""))
    section.hazard = _hazard(row, log)
    record = make_record(
        "abi", row, host=host, tools=tools, started=started, verdict=section.verdict or "error", abi=section
    )
    return record, write_record(record)


def _hazard(row: Row, log: Callable[[str], None]) -> Hazard:
    """The XLA training hazard, a prediction about the fit beside abi's about loading; or, when
    there is none, the section that says so and why (logged too)."""
    try:
        hazard = msgspec.convert(predict(tf=row.tf, metal=row.metal, python=row.python), Hazard)
    except HazardError as exc:
        log(f"hazard: no prediction: {exc}")
        return msgspec.convert(no_prediction(str(exc)), Hazard)
    log(f"hazard: training predicted {hazard.predicted} with {hazard.keras}: {hazard.reason}")
    return hazard
