"""The report's model: everything the page shows, as data. ``compatibility.json`` is this model
encoded as it is, and ``schemas/compatibility.schema.json`` is generated from it, so the JSON
carries all that the Markdown and HTML show, by construction: they render from this and nothing
else. Every string in it is clean (``text.clean``); the renderers escape it for their format.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from tfcompat.report.evidence import Level, Outcome

#: The version of compatibility.json's shape (schema 1 was the single table of tfcompat 0.1;
#: schema 2 had letter marks; schema 3 has the design card's ✅ ❌ ⚠️ with words beside them).
REPORT_SCHEMA = 3
#: The columns of a machine's row list, each a probe's result or a prediction, and their titles.
COLUMNS = {
    "supports": "Supports",
    "abi": "ABI",
    "import": "Import",
    "devices": "Devices",
    "verify": "Verify",
    "agrees": "Agrees",
    "speedup": "Speed-up",
}


class _Part(msgspec.Struct):
    """kw_only is set on each class: msgspec does not inherit it."""

    pass


class Evidence(_Part, kw_only=True):
    """One piece of evidence about a pair on a machine and Python."""

    level: Level
    outcome: Outcome
    mark: str  # ✅ ❌ ⚠️
    words: str  # how the mark is known, beside it: "Apple M2 Pro GPU", "predicted", "PyPI: unclear"
    label: str  # all of it in a sentence, one line
    source: str  # where it comes from: a record file, PyPI's table
    footnotes: list[int] = []
    slower: float | None = None  # a speed-up below 1
    workaround: str | None = None  # for a training hazard


class Value(_Part, kw_only=True):
    """One cell of a machine's row list."""

    text: str  # "✅", "❌", "⚠️", "–", "6.3×", "⚠️ 0.59×"
    state: Literal["ok", "fail", "warn", "none"]
    footnotes: list[int] = []
    flagged: bool = False  # a claim or prediction that the real run contradicts


class Link(_Part, kw_only=True):
    text: str
    href: str  # relative to the reports folder, never out of it


class TableRow(_Part, kw_only=True):
    anchor: str
    python: str
    tf: str
    metal: str  # "none": TensorFlow alone, the control of the pairs beside it
    label: str
    values: dict[str, Value]  # COLUMNS → value
    evidence: Evidence | None  # the strongest evidence for the row on this machine
    lock: str | None = None  # lock file of what the deciding verify run installed
    logs: list[Link] = []


class Table(_Part, kw_only=True):
    """A machine's row list: every matrix row, controls beside their pairs."""

    machine: str
    title: str
    newest: datetime | None
    rows: list[TableRow]


class GridCell(_Part, kw_only=True):
    metal: str
    anchor: str
    evidence: list[int]  # indices into Compatibility.evidence, strongest first; empty: nothing known
    details: str  # the anchor of its details: its own, its row in the row list, or the predicted cell's
    install: str | None = None  # on the cells of the predicted machine: the command is machine-independent


class GridRow(_Part, kw_only=True):
    tf: str
    cells: list[GridCell]  # one per Grid.metal


class Grid(_Part, kw_only=True):
    """TensorFlow releases down, newest first; across, TensorFlow alone and then the plugins, newest first."""

    machine: str
    python: str
    metal: list[str]
    rows: list[GridRow]


class Pair(_Part, kw_only=True):
    tf: str
    metal: str
    evidence: Evidence


class ForOlderMacos(_Part, kw_only=True):
    """On a macOS older than ``below``: the pair to take instead (None: no pair is known to)."""

    below: str
    pair: Pair | None
    install: str | None = None
    needs_macos: str | None = None


class Answer(_Part, kw_only=True):
    """For one machine and Python: the pair to install and how sure that is."""

    python: str
    pair: Pair | None
    install: str | None = None  # the command to type, as resolved for macOS arm64 today
    install_note: str | None = None  # why it carries extra pins, or why there is no command
    keras: str | None = None  # the Keras the command brings: "keras 3.12.0"
    needs_macos: str | None = None  # the oldest macOS the pair installs and loads on
    older_macos: list[ForOlderMacos] = []  # below that, newest floor first
    lock: str | None = None  # what the verify run installed, for pip install -r / uv pip sync
    newer: Pair | None = None  # a newer pair, with weaker evidence
    reason: str | None = None  # why there is no pair
    steps: list[str] = []  # where no pair works on this Python: the commands that get one that has


class Machine(_Part, kw_only=True):
    id: str
    label: str
    os: str
    os_version: str
    arch: str
    chip: str | None
    gpus: list[str] = []
    virtual: bool = False
    ci: str | None = None
    predicted: bool = False  # not a machine: what the wheels predict for any Apple-silicon Mac
    newest: datetime | None = None


class MachineAnswers(_Part, kw_only=True):
    machine: str
    answers: list[Answer]


class Footnote(_Part, kw_only=True):
    number: int
    text: str  # one line: a failure signature or a note
    detail: str = ""  # the full error text, its first line left out when ``text`` says it
    names: list[tuple[str, str]] = []  # (mangled, demangled) C++ names in the text and detail
    where: dict[str, list[str]] = {}  # machine label ("" for host-independent) → places


class Flag(_Part, kw_only=True):
    machine: str
    row: str
    text: str


class Change(_Part, kw_only=True):
    row: str
    where: str  # "ABI prediction" or the machine
    outcome: list[str]
    host: list[str] = []
    packages: list[str] = []
    dates: tuple[datetime, datetime]


class Skipped(_Part, kw_only=True):
    name: str
    reason: str


class Compatibility(_Part, kw_only=True):
    schema: Literal[3]
    generated: str
    record_count: int
    machines: list[Machine]
    answers: list[MachineAnswers]
    legend: list[str]  # three lines: the marks, the words beside them strongest first, how a cell reads
    tables: list[Table]
    grids: list[Grid]  # per machine and Python; a Python with no wheel of any pair has none
    evidence: list[Evidence]  # every piece of evidence a grid cell names, once
    footnotes: list[Footnote]
    flags: list[Flag]
    changes: list[Change]
    skipped: list[Skipped]
    repaired: list[Skipped]  # read, with text that could not be encoded replaced by U+FFFD
