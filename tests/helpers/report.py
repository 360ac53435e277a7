"""Running the report in tests: every report a test makes is checked against the published
JSON Schema, and every record in its folder against the record schema, with jsonschema (an
independent validator, not the msgspec models that wrote them)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from helpers.paths import TESTS
from tfcompat.report import write_reports
from tfcompat.schemas import FOLDER

GOLDEN = TESTS / "golden"
GENERATED = "2026-11-24T12:00:00.000000+00:00"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((FOLDER / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)  # once: it is the slow part
    return jsonschema.Draft202012Validator(schema)


RECORD_SCHEMA, REPORT_SCHEMA = _validator("record.schema.json"), _validator("compatibility.schema.json")


@dataclass
class Outputs:
    markdown: str
    html: str
    data: dict

    def row(self, machine: int, python: str, tf: str, metal: str) -> dict:
        """A row of the row list of the ``machine``-th table."""
        table = self.data["tables"][machine]
        return next(r for r in table["rows"] if (r["python"], r["tf"], r["metal"]) == (python, tf, metal))

    def answer(self, machine: str, python: str) -> dict:
        group = next(g for g in self.data["answers"] if self.label(g["machine"]) == machine)
        return next(a for a in group["answers"] if a["python"] == python)

    def label(self, machine_id: str) -> str:
        return next(m["label"] for m in self.data["machines"] if m["id"] == machine_id)

    def grid(self, machine: str, python: str) -> dict:
        return next(
            g for g in self.data["grids"] if self.label(g["machine"]) == machine and g["python"] == python
        )

    def cell(self, machine: str, python: str, tf: str, metal: str) -> list[dict]:
        """The evidence of a grid cell, strongest first."""
        grid = self.grid(machine, python)
        row = next(r for r in grid["rows"] if r["tf"] == tf)
        cell = row["cells"][grid["metal"].index(metal)]
        return [self.data["evidence"][index] for index in cell["evidence"]]

    def footnote(self, number: int) -> dict:
        return self.data["footnotes"][number - 1]


def report(matrix, folder: Path, *, host_os: str = "Darwin") -> Outputs:
    write_reports(matrix, folder, generated=GENERATED, host_os=host_os)
    data = json.loads((folder / "compatibility.json").read_text(encoding="utf-8"))
    REPORT_SCHEMA.validate(data)
    for path in folder.rglob("*.json"):
        if path.name != "compatibility.json" and path.is_file() and not path.is_symlink():
            try:
                record = json.loads(path.read_bytes())
            except ValueError:
                continue  # a test's broken file: the report skips it, as checked there
            if isinstance(record, dict) and record.get("schema") == 2 and "skip" not in path.name:
                RECORD_SCHEMA.validate(record)
    return Outputs(
        (folder / "compatibility.md").read_text(encoding="utf-8"),
        (folder / "compatibility.html").read_text(encoding="utf-8"),
        data,
    )


def assert_golden(text: str, name: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("TFCOMPAT_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def section_of(markdown: str, title: str) -> str:
    body = markdown.split(f"## {title}\n\n", 1)[1]
    return re.split(r"\n\n##+ ", body, maxsplit=1)[0].strip()
