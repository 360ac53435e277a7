"""The published JSON Schemas, generated from the typed models: ``python -m tfcompat.schemas``.

The record (``tfcompat.record.Record``) and the report (``tfcompat.report.model.Compatibility``).

The files under ``schemas/`` are committed so that a reader in another language can validate a
record without tfcompat; a test fails when a model changes and its file was not regenerated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec

from tfcompat.record import SCHEMA, Record
from tfcompat.report.model import REPORT_SCHEMA, Compatibility

FOLDER = Path(__file__).resolve().parent.parent / "schemas"


def schemas() -> dict[str, dict]:
    """File name → JSON Schema, for every published schema."""
    record = msgspec.json.schema(Record)
    record = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"tfcompat record, schema {SCHEMA}",
        **record,
    }
    report = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"tfcompat compatibility.json, schema {REPORT_SCHEMA}",
        **msgspec.json.schema(Compatibility),
    }
    return {"record.schema.json": record, "compatibility.schema.json": report}


def render(schema: dict) -> str:
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def main() -> int:
    for name, schema in schemas().items():
        (FOLDER / name).write_text(render(schema), encoding="utf-8")
        print(f"wrote {FOLDER / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
