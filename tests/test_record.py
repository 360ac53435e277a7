"""The record model: one typed model for writer and reader, and the published JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tfcompat.core.host import host_info
from tfcompat.core.matrix import Row
from tfcompat.core.record import RecordError, load_record, new_record, now, write_record
from tfcompat.schemas import FOLDER, render, schemas

ROW = Row(number=3, python="3.10", tf="2.17.0", metal="1.1.0", supports="yes")


def abi_record() -> dict:
    record = new_record("abi", ROW, host=host_info(), tools={"tfcompat": "0.1.0"}, started=now())
    record["abi"] = {"verdict": "ok", "unresolved": [], "wheels": [], "seconds": 0.3}
    record["verdict"] = "ok"
    record["finished"] = now()
    return record


def test_published_schemas_are_the_ones_the_models_generate():
    for name, schema in schemas().items():
        assert (FOLDER / name).read_text(encoding="utf-8") == render(schema), "run python -m tfcompat.schemas"


def test_the_published_form_does_not_depend_on_how_msgspec_words_and_orders_a_schema():
    # What msgspec 0.19 and 0.23 generate for the same docstring and the same optional field.
    older = {
        "description": "Where the first failure\nis a library.",
        "anyOf": [{"type": "null"}, {"$ref": "#/A"}],
    }
    newer = {
        "description": "Where the first failure\n    is a library.",
        "anyOf": [{"$ref": "#/A"}, {"type": "null"}],
    }
    assert render({"$defs": {"X": older}}) == render({"$defs": {"X": newer}})
    assert json.loads(render(newer))["description"] == "Where the first failure is a library."


def test_a_written_record_validates_against_the_published_schema_and_reads_back(tmp_path):
    path = write_record(abi_record(), tmp_path)
    schema = json.loads((FOLDER / "record.schema.json").read_text())
    jsonschema.validate(json.loads(path.read_text()), schema)
    record = load_record(path)
    assert (record.kind, record.row.tf, record.abi.verdict, record.started.tzinfo is not None) == (
        "abi",
        "2.17.0",
        "ok",
        True,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(verdict="maybe"), "Invalid enum value 'maybe' - at `$.verdict`"),
        (lambda r: r["row"].update(tf=2.17), "Expected `str`, got `float` - at `$.row.tf`"),
        (lambda r: r.pop("abi"), "an abi record needs 'abi'"),
        (lambda r: r.update(started="2026-11-24T14:21:35"), "'started' has no time zone"),
    ],
)
def test_a_record_that_does_not_fit_the_model_is_refused_with_the_field(tmp_path, change, message):
    record = abi_record()
    change(record)
    with pytest.raises(RecordError, match="record does not fit schema 2"):
        write_record(record, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    # The same file, written by hand, is refused by the reader with the same reason.
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(record))
    with pytest.raises(RecordError) as caught:
        load_record(path)
    assert message in str(caught.value) and str(caught.value).startswith("hand.json: ")
