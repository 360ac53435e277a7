"""The result record: one JSON file per run, the contract between the checks and the report.

Schema (version 1), documented in the README:

    {"schema": 1, "kind": "verify" | "abi", "id": str,
     "row": {"number", "python", "tf", "metal", "supports", "constraints", "note"},
     "host": {"os", "os_version", "machine", "chip", "python"},
     "tools": {"tfcompat", "uv", "nox"},
     "started": ISO 8601, "finished": ISO 8601,
     "verdict": "ok" | "fail" | "error",
     ... kind-specific sections: "provision" and "probes" (verify), "abi" (abi)}

``verdict`` is about the pair: ``error`` means the suite could not reach a verdict
(provisioning failed, bad wheel) and says nothing about whether the pair works.
Files are written atomically and never overwritten, so reruns keep their history and
records from many machines can be merged by copying them into one folder.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from tfcompat.files import write_new
from tfcompat.matrix import Row

SCHEMA = 1
KINDS = ("verify", "abi")
VERDICTS = ("ok", "fail", "error")
#: Moves the reports folder (records go to its ``sessions/``).
REPORTS_ENV = "TFCOMPAT_REPORTS"


class RecordError(Exception):
    """A file that is not a readable record of this schema; the message names the file."""


def reports_dir() -> Path:
    """The reports folder: ``TFCOMPAT_REPORTS`` or ``reports/`` beside the package."""
    default = Path(__file__).resolve().parent.parent / "reports"
    return Path(os.environ.get(REPORTS_ENV) or default)


def sessions_dir() -> Path:
    """Where run records are written: ``<reports>/sessions``."""
    return reports_dir() / "sessions"


def now() -> str:
    """The current UTC time in ISO 8601, to the microsecond, as records store it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_record(kind: str, row: Row, *, host: dict, tools: dict, started: str) -> dict:
    """The common part of a record; the caller adds its sections and ``verdict``."""
    row_fields = asdict(row)
    row_fields["constraints"] = list(row.constraints)
    return {
        "schema": SCHEMA,
        "kind": kind,
        "id": f"{started[:19].replace(':', '').replace('-', '')}-{secrets.token_hex(4)}",
        "row": row_fields,
        "host": host,
        "tools": tools,
        "started": started,
        "finished": None,
        "verdict": None,
    }


def write_record(record: dict, folder: Path | None = None) -> Path:
    """Write ``record`` atomically under ``folder`` as a new file; return its path.

    The file name is built only from validated values (kind, canonical versions, the id), so
    it cannot leave the folder. A crash leaves either no file or a whole one: the JSON goes to
    a hidden temporary file first, which is then hard-linked to its final name; ``link`` fails
    rather than replace an existing file, so a record is never overwritten.
    """
    folder = folder or sessions_dir()
    row = record["row"]
    stem = f"{record['kind']}-py{row['python']}-tf{row['tf']}-metal{row['metal']}-{record['id']}"
    data = json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False).encode()
    names = [f"{stem}.json", *(f"{stem}-{attempt}.json" for attempt in range(1, 100))]
    try:
        return write_new(folder, names, data)
    except FileExistsError:
        raise RecordError(f"{folder / stem}.json: 100 records with this name already exist") from None


def load_record(path: Path) -> dict:
    """Read one record; raise ``RecordError`` naming the file if it is not one."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise RecordError(f"{path.name}: cannot read: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 5000-digit integer, deep nesting
        raise RecordError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "schema" not in data or "kind" not in data:
        raise RecordError(f"{path.name}: not a tfcompat record (no schema/kind)")
    if data["schema"] != SCHEMA:
        raise RecordError(f"{path.name}: unknown schema {data['schema']!r} (this tfcompat reads {SCHEMA})")
    if data["kind"] not in KINDS:
        raise RecordError(f"{path.name}: unknown kind {data['kind']!r}")
    for key in ("row", "host", "started", "verdict"):
        if key not in data:
            raise RecordError(f"{path.name}: missing key {key!r}")
    row = data["row"]
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("python", "tf", "metal")):
        raise RecordError(f"{path.name}: 'row' lacks python/tf/metal")
    if data["verdict"] not in VERDICTS:
        raise RecordError(f"{path.name}: unknown verdict {data['verdict']!r}")
    return data
