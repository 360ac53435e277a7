"""The diagnosis as data: what ``nox -s doctor -- --json`` prints, and what the text renders.

``schemas/doctor.schema.json`` is generated from this model (``python -m tfcompat.schemas``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

DOCTOR_SCHEMA = 1
#: What a finding says about the environment: ``problem`` (it is broken: exit 1), ``unknown``
#: (cannot tell: exit 2 when nothing is broken), ``warning`` (works, with a caveat), ``ok``,
#: ``info``.
Severity = Literal["problem", "unknown", "warning", "ok", "info"]
#: How a finding is known, strongest first: ``seen`` (a probe ran in this environment, on this
#: Mac), ``predicted`` (the map's engine, from the real macOS wheels: nothing was run), ``read``
#: (the environment's own metadata, as installed).
Kind = Literal["seen", "predicted", "read"]
Status = Literal["healthy", "problem", "unknown"]
#: A finding's mark, the design card's (the report's) by severity: ❌ broken, ⚠️ unclear or a
#: caveat, ✅ fine, · a fact for the reader. How it is known is the finding's ``kind``, in words.
MARKS: dict[str, str] = {"problem": "❌", "unknown": "⚠️", "warning": "⚠️", "ok": "✅", "info": "·"}
EXIT_CODES: dict[str, int] = {"healthy": 0, "problem": 1, "unknown": 2}


class _Part(msgspec.Struct):
    """kw_only is set on each class: msgspec does not inherit it."""


class Finding(_Part, kw_only=True):
    """One judgement, one line."""

    check: str  # which judgement: "load", "hazard", "floors", "numpy", ...
    severity: Severity
    kind: Kind
    text: str  # one line
    source: str | None = None  # where the evidence comes from: the wheels, a public report
    mark: str = ""  # set from ``severity`` (``MARKS``)

    def __post_init__(self):
        self.mark = MARKS[self.severity]


class Distribution(_Part, kw_only=True):
    name: str
    version: str
    metadata: str  # the METADATA file read


class EnvironmentFacts(_Part, kw_only=True):
    python: str  # the interpreter diagnosed
    version: str  # "3.11.7"
    virtual: bool
    prefix: str
    distributions: list[Distribution]
    os: str  # where the doctor ran: "Darwin", "Linux"
    macos: str | None = None  # the macOS judged against (this Mac's, or --macos)
    chip: str | None = None


class Pair(_Part, kw_only=True):
    tf: str
    metal: str


class Recommendation(_Part, kw_only=True):
    """The pair the answer recommends for this Python (and macOS), and how that is known."""

    python: str
    pair: Pair
    evidence: str  # the report's mark and its words: "✅ predicted", "✅ Apple M2 Pro GPU"
    source: str  # "the report's answer (12 records)" or "the map's engine, asked now"
    install: str  # the command as the map resolves it today, for any Python ("python -m pip ...")


class Fix(_Part, kw_only=True):
    """The commands that fix this environment, in order, each an argument list (never a shell
    line: nothing read from outside becomes an option)."""

    commands: list[list[str]]
    text: list[str]  # the same, quoted for a shell, as printed
    new_environment: bool = False  # this Python has no working pair: a new environment instead
    recommendation: Recommendation | None = None
    note: str | None = None  # why the command carries pins, or why there is no fix


class ProbeResult(_Part, kw_only=True):
    """A Mac-only probe run in the environment (import, devices): read-only, its own subprocess."""

    probe: str
    status: Literal["ok", "fail", "not_run"]
    detail: str  # one line: the GPUs listed, the failure's signature, or why it did not run
    after_fix: bool = False


class Diagnosis(_Part, kw_only=True):
    schema: Literal[1] = DOCTOR_SCHEMA
    status: Status
    exit_code: int
    summary: str  # one line
    environment: EnvironmentFacts | None  # None: it could not be read (``summary`` says why)
    pair: Pair | None = None  # what is installed ("none" for a missing side)
    findings: list[Finding] = []
    fix: Fix | None = None
    probes: list[ProbeResult] = []
    fixed: bool | None = None  # --fix: whether the fix ran and succeeded (None: not asked)
