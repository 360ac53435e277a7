"""compatibility.json: the report's model as it is (``schemas/compatibility.schema.json``)."""

from __future__ import annotations

import msgspec

from tfcompat.report.model import Compatibility


def render_json(report: Compatibility) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=1) + b"\n"
