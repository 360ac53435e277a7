"""The published JSON Schemas, generated from the typed models: ``python -m tfcompat.schemas``.

The record (``tfcompat.record.Record``), the report (``tfcompat.report.model.Compatibility``) and
the doctor's diagnosis (``tfcompat.doctor.model.Diagnosis``, ``nox -s doctor -- --json``).

The files under ``schemas/`` are committed so that a reader in another language can validate a
record without tfcompat; a test fails when a model changes and its file was not regenerated.
"""

from __future__ import annotations

import json
import sys

import msgspec

from tfcompat.core import config
from tfcompat.core.record import SCHEMA, Record
from tfcompat.doctor.model import DOCTOR_SCHEMA, Diagnosis
from tfcompat.report.model import REPORT_SCHEMA, Compatibility

FOLDER = config.SCHEMAS_DIR


def schemas() -> dict[str, dict]:
    """File name → JSON Schema, for every published schema."""
    record = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"tfcompat record, schema {SCHEMA}",
        **msgspec.json.schema(Record),
    }
    report = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"tfcompat compatibility.json, schema {REPORT_SCHEMA}",
        **msgspec.json.schema(Compatibility),
    }
    doctor = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"tfcompat doctor diagnosis, schema {DOCTOR_SCHEMA}",
        **msgspec.json.schema(Diagnosis),
    }
    return {"record.schema.json": record, "compatibility.schema.json": report, "doctor.schema.json": doctor}


def render(schema: dict) -> str:
    """The published text of ``schema``, in a form that does not depend on the msgspec release
    that generated it: msgspec takes descriptions from docstrings and has changed how it dedents
    them (0.23 keeps indentation that older releases dropped) and how it orders ``anyOf``; the
    published file says the same either way (descriptions on one line, ``anyOf`` sorted)."""
    return json.dumps(_canonical(schema), indent=1, sort_keys=True) + "\n"


def _canonical(value):
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: _canonical(item) for key, item in value.items()}
    if isinstance(result.get("description"), str):
        result["description"] = " ".join(result["description"].split())
    if isinstance(result.get("anyOf"), list):
        result["anyOf"] = sorted(result["anyOf"], key=lambda item: json.dumps(item, sort_keys=True))
    return result


def main() -> int:
    for name, schema in schemas().items():
        (FOLDER / name).write_text(render(schema), encoding="utf-8")
        print(f"wrote {FOLDER / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
